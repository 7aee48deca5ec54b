"""The check each tab's bad-input test makes through gradio_client."""

import re

from gradio_client.exceptions import AppError


def assert_refused(client, api: str, args: tuple, message: str) -> None:
    """`api` refuses `args` with an error whose text matches the regex `message`, and the server
    still answers afterwards."""
    try:
        client.predict(*args, api_name=api)
    except AppError as e:
        assert re.search(message, str(e)), str(e)
    else:
        raise AssertionError(f"{api}{args} was not refused")
    assert client.predict(api_name="/ping") == "ok"
