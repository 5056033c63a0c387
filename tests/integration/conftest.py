import pytest

# A real anvil (`node`), for the settlement and chain-watcher tests.
from tests.integration.chain_net import node  # noqa: F401


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
