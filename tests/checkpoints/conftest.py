import pytest

from .hub_server import HubServer


@pytest.fixture
def hub_server():
    """A started loopback hub (see hub_server.py); add repos with ``hub_server.add_repo(id, dir)``."""
    server = HubServer().start()
    try:
        yield server
    finally:
        server.stop()
