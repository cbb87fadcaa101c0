// y[M, N] = x[M, K] @ W[K, N] for float32, W pre-arranged by jaxnlp.native.pack
// as [T, K, TW]: T = ceil(N / TW) column tiles of TW columns (the last one
// zero-padded), each tile contiguous, so a tile's weights stream from memory
// front to back. An 8-row x TW-column block of y keeps its accumulators in
// registers for the whole K loop; blocks of tiles are shared between the
// calling thread and XLA's intra-op thread pool.
//
// Built at first use by jaxnlp/native/__init__.py (c++ -O3 -march=native) and
// called through jax.ffi; TW = 3 vectors of the widest float vector the build
// target has (48 with AVX-512, 24 with AVX2, 12 with SSE2).
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

#if defined(__AVX512F__)
constexpr int kVec = 16;
#elif defined(__AVX__)
constexpr int kVec = 8;
#else
constexpr int kVec = 4;
#endif
constexpr int kTile = 3 * kVec;
typedef float vec __attribute__((vector_size(kVec * 4), aligned(4)));

extern "C" int jaxnlp_packed_tile_width() { return kTile; }

namespace {

// rows (<= 8) of x [., K] times one packed tile [K, kTile] -> out [rows, kTile] (stride ldo)
inline void Block(const float* x, int64_t K, const float* w, float* out, int64_t ldo, int rows) {
  vec acc[8][3];
  for (int m = 0; m < 8; ++m)
    for (int j = 0; j < 3; ++j) acc[m][j] = vec{};
  for (int64_t k = 0; k < K; ++k) {
    const float* wr = w + k * kTile;
    vec b0 = *reinterpret_cast<const vec*>(wr);
    vec b1 = *reinterpret_cast<const vec*>(wr + kVec);
    vec b2 = *reinterpret_cast<const vec*>(wr + 2 * kVec);
#define JAXNLP_ROW(m)                  \
  if (m < rows) {                      \
    float a = x[(m) * K + k];          \
    acc[m][0] += a * b0;               \
    acc[m][1] += a * b1;               \
    acc[m][2] += a * b2;               \
  }
    JAXNLP_ROW(0) JAXNLP_ROW(1) JAXNLP_ROW(2) JAXNLP_ROW(3)
    JAXNLP_ROW(4) JAXNLP_ROW(5) JAXNLP_ROW(6) JAXNLP_ROW(7)
#undef JAXNLP_ROW
  }
  for (int m = 0; m < rows; ++m)
    for (int j = 0; j < 3; ++j) *reinterpret_cast<vec*>(out + m * ldo + j * kVec) = acc[m][j];
}

// Column tiles [t0, t1) for every row of x.
void Tiles(const float* x, int64_t M, int64_t K, const float* w, int64_t N, float* y, int64_t t0, int64_t t1) {
  float tail[8 * kTile];
  for (int64_t t = t0; t < t1; ++t) {
    const float* wt = w + t * K * kTile;
    int64_t n0 = t * kTile, width = std::min<int64_t>(kTile, N - n0);
    for (int64_t m0 = 0; m0 < M; m0 += 8) {
      int rows = static_cast<int>(std::min<int64_t>(8, M - m0));
      if (width == kTile) {
        Block(x + m0 * K, K, wt, y + m0 * N + n0, N, rows);
      } else {
        Block(x + m0 * K, K, wt, tail, kTile, rows);
        for (int m = 0; m < rows; ++m) std::memcpy(y + (m0 + m) * N + n0, tail + m * kTile, width * sizeof(float));
      }
    }
  }
}

struct Job {
  const float* x;
  const float* w;
  float* y;
  int64_t M, K, N, tiles, chunks;
  std::atomic<int64_t> next{0}, done{0};
  // Take chunks until none is left; a chunk is a contiguous range of tiles.
  void Run() {
    for (int64_t c; (c = next.fetch_add(1, std::memory_order_relaxed)) < chunks;) {
      Tiles(x, M, K, w, N, y, tiles * c / chunks, tiles * (c + 1) / chunks);
      done.fetch_add(1, std::memory_order_release);
    }
  }
};

ffi::Error PackedMatmul(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> w,
                        ffi::ResultBuffer<ffi::F32> y) {
  auto xd = x.dimensions(), wd = w.dimensions(), yd = y->dimensions();
  if (xd.size() != 2 || wd.size() != 3 || yd.size() != 2 || wd[2] != kTile || wd[1] != xd[1] ||
      yd[0] != xd[0] || (yd[1] + kTile - 1) / kTile != wd[0])
    return ffi::Error::InvalidArgument("jaxnlp_packed_matmul: shapes do not match a packed kernel");
  auto job = std::make_shared<Job>();
  job->x = x.typed_data();
  job->w = w.typed_data();
  job->y = y->typed_data();
  job->M = xd[0];
  job->K = xd[1];
  job->N = yd[1];
  job->tiles = wd[0];
  int64_t threads = std::max<int64_t>(1, pool.num_threads());
  job->chunks = std::min<int64_t>(job->tiles, 4 * threads);
  // Helpers from XLA's pool take chunks as they start; the caller takes the
  // rest itself and then waits only for chunks a helper has already begun, so
  // a busy pool delays nothing and cannot deadlock.
  for (int64_t h = 1; h < std::min<int64_t>(threads, job->chunks); ++h) pool.Schedule([job] { job->Run(); });
  job->Run();
  while (job->done.load(std::memory_order_acquire) < job->chunks) std::this_thread::yield();
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxnlpPackedMatmul, PackedMatmul,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>());
