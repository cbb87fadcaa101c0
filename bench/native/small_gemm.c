/* Hand-written small-M matrix products for bench/small_gemm.py (a measurement,
 * not part of the library): y[M,N] = x[M,K] @ W[K,N] for M <= 32, float32,
 * threads over column tiles (OpenMP), GCC vector extensions (AVX2 or AVX-512,
 * whatever -march=native gives). Two weight layouts:
 *   standard: W row-major [K, N], as jaxnlp (and Flax) store a Dense kernel;
 *             K is cut into KB-row blocks and each block is swept across the
 *             column tiles, so each of its KB rows is read front to back;
 *   packed:   W pre-arranged as [N / NT, K, NT] (the last tile as wide as
 *             what is left), each column tile contiguous
 *             (the layout jaxnlp.native keeps a copy of the decoder in).
 * The accumulators of an 8-row x NT-column tile (NT = 48; a last tile of 16
 * or 32 columns where N is not a multiple of 48) stay in registers.
 * The chain is the feed-forward of L layers: h = x @ W1 [K, F], x = h @ W2 [F, K]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <omp.h>

#define NT 48
#define KB 32
typedef float v16 __attribute__((vector_size(64), aligned(4)));

/* rows (<= 8) x 48 columns of y, the accumulators in registers */
static void tile3(const float *x, int ldx, int k0, int k1, const float *w, int ldw,
                  float *y, int ldy, int rows, int first) {
  v16 acc[8][3];
  for (int m = 0; m < 8; m++)
    for (int j = 0; j < 3; j++)
      acc[m][j] = (first || m >= rows) ? (v16){0} : *(const v16 *)(y + (size_t)m * ldy + 16 * j);
  for (int k = k0; k < k1; k++) {
    const float *wr = w + (size_t)k * ldw;
    v16 b0 = *(const v16 *)wr, b1 = *(const v16 *)(wr + 16), b2 = *(const v16 *)(wr + 32);
#define ROW(m) if (m < rows) { float a = x[(size_t)m * ldx + k]; \
      acc[m][0] += a * b0; acc[m][1] += a * b1; acc[m][2] += a * b2; }
    ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5) ROW(6) ROW(7)
#undef ROW
  }
  for (int m = 0; m < rows; m++)
    for (int j = 0; j < 3; j++) *(v16 *)(y + (size_t)m * ldy + 16 * j) = acc[m][j];
}

/* the last tile where N is not a multiple of 48: 16 or 32 columns, plain loops */
static void tile_tail(const float *x, int ldx, int k0, int k1, const float *w, int ldw,
                      float *y, int ldy, int rows, int first, int nv) {
  for (int m = 0; m < rows; m++)
    for (int j = 0; j < nv; j++) {
      v16 acc = first ? (v16){0} : *(const v16 *)(y + (size_t)m * ldy + 16 * j);
      for (int k = k0; k < k1; k++) acc += x[(size_t)m * ldx + k] * *(const v16 *)(w + (size_t)k * ldw + 16 * j);
      *(v16 *)(y + (size_t)m * ldy + 16 * j) = acc;
    }
}

static void tile(const float *x, int ldx, int k0, int k1, const float *w, int ldw,
                 float *y, int ldy, int rows, int first, int nv) {
  if (nv == 3) tile3(x, ldx, k0, k1, w, ldw, y, ldy, rows, first);
  else tile_tail(x, ldx, k0, k1, w, ldw, y, ldy, rows, first, nv);
}

/* column tile i: its first column and its width in 16-float vectors */
static inline int tile_vecs(int N, int i) { int left = N - i * NT; return (left < NT ? left : NT) / 16; }

static void gemm(const float *x, int M, int K, const float *W, int N, float *y, int packed) {
  int tiles = (N + NT - 1) / NT;
#pragma omp parallel
  {
    int t = omp_get_thread_num(), T = omp_get_num_threads();
    int a = tiles * t / T, b = tiles * (t + 1) / T;
    if (packed) {
      for (int i = a; i < b; i++)
        for (int m0 = 0; m0 < M; m0 += 8)
          tile(x + (size_t)m0 * K, K, 0, K, W + (size_t)i * K * NT, 16 * tile_vecs(N, i),
               y + (size_t)m0 * N + i * NT, N, M - m0 < 8 ? M - m0 : 8, 1, tile_vecs(N, i));
    } else {
      for (int k0 = 0; k0 < K; k0 += KB)
        for (int i = a; i < b; i++)
          for (int m0 = 0; m0 < M; m0 += 8)
            tile(x + (size_t)m0 * K, K, k0, k0 + KB < K ? k0 + KB : K, W + i * NT, N,
                 y + (size_t)m0 * N + i * NT, N, M - m0 < 8 ? M - m0 : 8, k0 == 0, tile_vecs(N, i));
    }
  }
}

static void pack(const float *W, int K, int N, float *P) {
  for (int i = 0; i < (N + NT - 1) / NT; i++) {
    int width = 16 * tile_vecs(N, i);
    for (int k = 0; k < K; k++)
      memcpy(P + (size_t)i * K * NT + (size_t)k * width, W + (size_t)k * N + i * NT, width * sizeof(float));
  }
}

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }

/* usage: small_gemm M K F L repeats  -> one JSON line per layout */
int main(int argc, char **argv) {
  if (argc != 6) { fprintf(stderr, "usage: %s M K F L repeats\n", argv[0]); return 2; }
  int M = atoi(argv[1]), K = atoi(argv[2]), F = atoi(argv[3]), L = atoi(argv[4]), R = atoi(argv[5]);
  if (M < 1 || M > 32 || K < 16 || F < 16 || K % 16 || F % 16 || L < 1 || R < 1) {
    fprintf(stderr, "need 1 <= M <= 32, K and F positive multiples of 16, L and repeats >= 1\n");
    return 2;
  }
  float **W = malloc(sizeof(float *) * 2 * L), **P = malloc(sizeof(float *) * 2 * L);
  for (int l = 0; l < 2 * L; l++) {
    size_t n = (size_t)K * F;
    W[l] = aligned_alloc(64, n * sizeof(float)); P[l] = aligned_alloc(64, n * sizeof(float));
    for (size_t i = 0; i < n; i++) W[l][i] = (float)((i * 2654435761u + l) % 2001) / 2000.0f - 0.5f;
    if (l % 2 == 0) pack(W[l], K, F, P[l]); else pack(W[l], F, K, P[l]);
  }
  float *x = aligned_alloc(64, sizeof(float) * M * K), *h = aligned_alloc(64, sizeof(float) * M * F);
  float *y = aligned_alloc(64, sizeof(float) * M * K);
  for (int i = 0; i < M * K; i++) x[i] = (float)(i % 13) / 13.0f - 0.5f;
  /* correctness: one product of each layout against a double-precision loop */
  double err[2] = {0, 0};
  for (int packed = 0; packed < 2; packed++) {
    gemm(x, M, K, packed ? P[0] : W[0], F, h, packed);
    for (int m = 0; m < M; m++)
      for (int n = 0; n < F; n += 37) {
        double s = 0;
        for (int k = 0; k < K; k++) s += (double)x[m * K + k] * W[0][(size_t)k * F + n];
        double e = s - h[m * F + n]; e = e < 0 ? -e : e; if (e > err[packed]) err[packed] = e;
      }
  }
  for (int packed = 0; packed < 2; packed++) {
    double best = 1e30;
    for (int r = 0; r < R; r++) {
      double t = now();
      for (int l = 0; l < L; l++) {
        gemm(x, M, K, packed ? P[2 * l] : W[2 * l], F, h, packed);
        gemm(h, M, F, packed ? P[2 * l + 1] : W[2 * l + 1], K, y, packed);
      }
      t = now() - t; if (t < best) best = t;
    }
    printf("{\"layout\": \"%s\", \"ms\": %.4f, \"max_abs_err\": %.3e, \"threads\": %d}\n",
           packed ? "packed" : "standard", best * 1e3, err[packed], omp_get_max_threads());
  }
  return 0;
}
