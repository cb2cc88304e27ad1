"""The commit decision both consumers share: lost COMMITs are sent once more, anything else fails."""

from __future__ import annotations

import pytest

from pyflymq_core.consumer.committer import COMMIT_ATTEMPTS, commits_to_resend
from pyflymq_core.errors import ConnectionError, GroupNotFoundError, TimeoutError


def test_lost_commits_are_sent_again_while_attempts_remain() -> None:
    lost = ConnectionError("reset")
    failures = [("a", lost), ("b", TimeoutError("no answer"))]
    assert commits_to_resend(failures, attempt=1) == ["a", "b"]


def test_the_last_attempt_raises_the_first_failure() -> None:
    lost = ConnectionError("reset")
    with pytest.raises(ConnectionError) as caught:
        commits_to_resend([("a", lost), ("b", TimeoutError("t"))], attempt=COMMIT_ATTEMPTS)
    assert caught.value is lost


def test_a_server_error_is_not_retried() -> None:
    refused = GroupNotFoundError("no such group")
    # Even next to a lost commit: resending cannot change the server's answer.
    with pytest.raises(ConnectionError):
        commits_to_resend([("a", ConnectionError("reset")), ("b", refused)], attempt=1)
    with pytest.raises(GroupNotFoundError):
        commits_to_resend([("b", refused)], attempt=1)
