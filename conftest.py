"""Root conftest: the response check against Docker's API description runs in every pytest session
(unit, integration and compat); it only sees what goes through compat/apicheck/proxy.py."""

pytest_plugins = ["compat.apicheck.plugin"]
