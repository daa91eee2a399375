"""Registers the `host` Lambda runtime executor with LocalStack's plugin system.

LocalStack resolves `LAMBDA_RUNTIME_EXECUTOR=host` through plux: the entry point
must name a `Plugin` subclass whose `load()` returns the executor class.
"""

from __future__ import annotations

from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin


class HostRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    """Plugin `host` in namespace `localstack.lambda.runtime_executor`."""

    name = "host"

    def load(self, *args: object, **kwargs: object) -> type:
        # Deferred so that merely listing plugins does not import the executor.
        from kstream_localstack_executor.executor import HostRuntimeExecutor

        return HostRuntimeExecutor
