"""`runfiles/tally.py`: the one set of counters of a call, written from the flow's thread and
the senders' event loop at once; each reject to the file and to the caller as it is counted;
what a checkpoint carries into a resume."""

from __future__ import annotations

import threading

from backfill.contract import Reject
from backfill.runfiles.tally import EXAMPLES, Tally


class Sink:
    def __init__(self) -> None:
        self.written: list[Reject] = []
        self.flushed = 0

    def write(self, reject: Reject) -> None:
        self.written.append(reject)

    def flush(self) -> None:
        self.flushed += 1


def reject(row: int, stage: str = "mapping", reason: str = "bad email") -> Reject:
    return Reject("in.csv", row, row + 2, 0, reason, stage, {"row": row})


def test_counts_added_from_many_threads_at_once_are_exact():
    tally = Tally()

    def work() -> None:
        for _ in range(5000):
            tally.add(rows_read=1, bytes_sent=3)
            tally.reject(reject(0))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert tally.get("rows_read") == 20_000 and tally.get("bytes_sent") == 60_000
    assert tally.get("rows_rejected") == 20_000


def test_each_reject_goes_to_the_file_and_the_caller_in_order_and_an_api_one_is_no_row():
    sink, seen = Sink(), []
    tally = Tally(sink, on_reject=seen.append)
    given = [reject(1), reject(4, "limits", "too long"), reject(7, "api", "invalid")]
    for one in given:
        tally.reject(one)
    tally.flush()
    assert sink.written == given and seen == given and sink.flushed == 1
    assert tally.get("rows_rejected") == 2  # the API refused an operation, not a row
    report = tally.report(mode="run")
    assert report.rejects_by_stage == {"mapping": 1, "limits": 1, "api": 1}


def test_a_reason_keeps_a_few_examples_and_counts_them_all():
    tally = Tally()
    for row in range(EXAMPLES + 5):
        tally.reject(reject(row))
    (reason,) = tally.report(mode="run").rejects
    assert reason["count"] == EXAMPLES + 5 and len(reason["examples"]) == EXAMPLES
    assert [e["row"] for e in reason["examples"]] == list(range(EXAMPLES))


def test_a_resume_continues_the_counts_the_checkpoint_carried():
    first = Tally()
    first.add(operations_delivered=10, requests=2, rows_read=50)
    first.reject(reject(3))
    carried = first.carried()
    assert "rows_read" not in carried  # read again by the resume: not carried
    second = Tally()
    second.carry(carried)
    second.add(operations_delivered=5, requests=1)
    second.reject(reject(9, "api", "invalid"))
    assert second.get("operations_delivered") == 15 and second.get("requests") == 3
    assert second.get("rows_rejected") == 1
    assert second.report(mode="run").rejects_by_stage == {"mapping": 1, "api": 1}
