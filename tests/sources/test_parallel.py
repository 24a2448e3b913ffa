"""Work split over forked children: the same results as in one process, whatever a child does."""

from __future__ import annotations

import os
import signal
import sys
from types import MappingProxyType

import pytest

from _toolchain import unavailable
from native_doctor.sources import _parallel
from native_doctor.sources._parallel import balanced_groups, run_groups, share_items


@pytest.fixture(autouse=True)
def _linux() -> None:
    if not _parallel.can_fork():
        unavailable("work is split over forked children on Linux only")


@pytest.mark.parametrize(
    ("weights", "count", "groups"),
    [
        ([5, 1, 1, 1, 1, 1], 2, [[0], [1, 2, 3, 4, 5]]),  # one heavy item: alone in its group
        ([1, 1, 1, 1], 2, [[0, 2], [1, 3]]),
        ([3, 3, 2, 2, 2], 2, [[0, 2, 4], [1, 3]]),
        ([1, 2], 4, [[1], [0]]),  # never more groups than items
        ([0, 0, 0], 1, [[0, 1, 2]]),
        ([], 2, []),
    ],
    ids=["heavy-alone", "even", "uneven", "more-jobs-than-items", "one-job", "nothing"],
)
def test_groups_are_balanced_in_index_order(weights: list[int], count: int, groups: list[list[int]]) -> None:
    assert balanced_groups(weights, count) == groups


def _square_all(numbers: list[int]) -> list[int]:
    return [n * n for n in numbers]


def _is_list(group: object, found: object) -> bool:
    return isinstance(found, list)


def test_children_compute_the_same_as_one_process() -> None:
    groups = [[1, 2], [3], [4, 5, 6]]
    assert run_groups(_square_all, groups, _is_list) == [[1, 4], [9], [16, 25, 36]]


def test_read_only_mappings_travel_back() -> None:
    """The binary models hold ``MappingProxyType`` fields, which pickle cannot handle by itself."""

    def work(keys: list[str]) -> MappingProxyType[str, int]:
        return MappingProxyType({k: len(k) for k in keys})

    found = run_groups(work, [["a"], ["bb", "ccc"]], lambda group, x: isinstance(x, MappingProxyType))
    assert found == [MappingProxyType({"a": 1}), MappingProxyType({"bb": 2, "ccc": 3})]
    assert isinstance(found[1], MappingProxyType)


def _fail(how: str) -> object:
    """Fail the way ``how`` says (in a child): raise, exit, be killed, never answer, or return
    the wrong kind of result (what is returned)."""
    if how == "raises":
        raise RuntimeError("boom")
    if how == "exits":
        os._exit(3)
    if how == "killed":
        os.kill(os.getpid(), signal.SIGKILL)
    if how == "stuck":
        signal.pause()  # never answers: this process never waits for it
    return "not a number"


def _failing(how: str, parent: int, calls: list[int]):  # type: ignore[no-untyped-def]
    def work(numbers: list[int]) -> object:
        if os.getpid() != parent:  # in a child: fail
            return _fail(how)
        calls.append(numbers[0])
        return _square_all(numbers)

    return work


@pytest.mark.parametrize("how", ["raises", "exits", "killed", "wrong-result"])
def test_a_failing_child_means_the_parent_does_its_group(how: str) -> None:
    calls: list[int] = []
    found = run_groups(_failing(how, os.getpid(), calls), [[1], [2], [3]], _is_list)
    assert found == [[1], [4], [9]]
    assert calls == [3, 1, 2]  # every group done here (its own first): the children's results refused


def test_garbage_from_a_child_means_the_parent_does_its_group(monkeypatch: pytest.MonkeyPatch) -> None:
    parent = os.getpid()
    real = _parallel.dumps
    monkeypatch.setattr(
        _parallel, "dumps", lambda value: b"\x80\x05garbage" if os.getpid() != parent else real(value)
    )
    calls: list[int] = []
    found = run_groups(_failing("none", parent, calls), [[1], [2]], _is_list)
    assert found == [[1], [4]] and calls == [2, 1]


def test_a_silent_child_is_killed_and_its_group_done_here(monkeypatch: pytest.MonkeyPatch) -> None:
    parent = os.getpid()
    monkeypatch.setattr(_parallel, "MIN_WAIT_SECONDS", 0.5)

    def work(numbers: list[int]) -> list[int]:
        if os.getpid() != parent:
            signal.pause()  # never answers
        return _square_all(numbers)

    assert run_groups(work, [[1], [2]], _is_list) == [[1], [4]]


def test_no_fork_off_linux_or_with_one_group(monkeypatch: pytest.MonkeyPatch) -> None:
    parent = os.getpid()
    pids: list[int] = []

    def work(numbers: list[int]) -> list[int]:
        pids.append(os.getpid())
        return numbers

    assert run_groups(work, [[1]], _is_list) == [[1]]
    monkeypatch.setattr(sys, "platform", "darwin")
    assert run_groups(work, [[1], [2]], _is_list) == [[1], [2]]
    assert pids == [parent, parent, parent]  # all here, none in a child


def test_usable_cpus_is_the_affinity_mask() -> None:
    assert _parallel.usable_cpus() == len(os.sched_getaffinity(0))


def test_a_child_prints_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    """Output and warnings in a child are dropped: the parent's streams (and a progress display
    drawing on them) are left alone."""
    import warnings

    parent = os.getpid()

    def work(numbers: list[int]) -> list[int]:
        if os.getpid() != parent:
            print("from the child")
            print("from the child", file=sys.stderr)
            warnings.warn("from the child", UserWarning, stacklevel=1)
        return [*numbers, os.getpid()]

    first, second = run_groups(work, [[1], [2]], _is_list)
    assert second == [2, parent] and first[0] == 1 and first[1] != parent  # the child's own result
    out, err = capfd.readouterr()
    assert "from the child" not in out + err


def test_meanwhile_runs_here_before_the_own_group() -> None:
    parent = os.getpid()
    order: list[str] = []

    def work(numbers: list[int]) -> list[int]:
        if os.getpid() == parent:
            order.append(f"group {numbers[0]}")
        return numbers

    assert run_groups(work, [[1], [2]], _is_list, meanwhile=lambda: order.append("meanwhile")) == [[1], [2]]
    assert order == ["meanwhile", "group 2"]  # the last group is this process's; [1] was a child's


# --- share_items: children from the front of their share, this process from the back ------------


def _is_int(index: int, found: object) -> bool:
    return isinstance(found, int)


@pytest.mark.parametrize(
    ("count", "children"),
    [(0, 1), (1, 1), (5, 1), (50, 1), (50, 3), (2, 4)],
    ids=["nothing", "one-item", "few", "many", "three-children", "more-children-than-items"],
)
def test_shared_items_are_what_one_process_computes(count: int, children: int) -> None:
    found = share_items(lambda n: n * n, count, _is_int, children=children)
    assert found == [n * n for n in range(count)]


def test_shared_items_come_from_both_ends() -> None:
    """A child that answers at once takes items from the front; this process, busy first with
    ``meanwhile``, finds them done and computes only from the back (here: nothing or a few); the
    item the child is computing when they meet is waited for, not computed twice."""
    import time

    parent = os.getpid()
    here: list[int] = []

    def work(number: int) -> tuple[int, int]:
        if os.getpid() == parent:
            here.append(number)
        return number, os.getpid()

    found = share_items(work, 20, lambda index, x: isinstance(x, tuple), meanwhile=lambda: time.sleep(0.5))
    assert [number for number, _ in found] == list(range(20))
    by_child = [number for number, pid in found if pid != parent]
    assert by_child == list(range(len(by_child))) and len(by_child) > 0  # a prefix, from the child
    assert here == sorted(here, reverse=True)  # from the back
    assert sorted(here + by_child) == list(range(20))  # each item computed once: none twice


def _failing_item(how: str, parent: int) -> object:
    def work(number: int) -> object:
        if os.getpid() != parent and number >= 2:  # a child fails after two items
            return _fail(how)
        return number * number

    return work


@pytest.mark.parametrize("how", ["raises", "exits", "killed", "wrong-result", "stuck"])
def test_a_failing_child_means_this_process_does_its_items(how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_parallel, "MIN_WAIT_SECONDS", 0.5)
    work = _failing_item(how, os.getpid())
    assert share_items(work, 10, _is_int, children=2) == [n * n for n in range(10)]  # type: ignore[arg-type]


def test_garbage_from_a_sharing_child_means_its_items_are_done_here(monkeypatch: pytest.MonkeyPatch) -> None:
    parent = os.getpid()
    real = _parallel.dumps
    monkeypatch.setattr(
        _parallel, "dumps", lambda value: b"\x80\x05garbage" if os.getpid() != parent else real(value)
    )
    assert share_items(lambda n: n + 1, 6, _is_int) == [1, 2, 3, 4, 5, 6]


def test_sharing_without_fork_runs_meanwhile_first(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    parent = os.getpid()
    order: list[object] = []

    def work(number: int) -> int:
        if os.getpid() != parent:
            print("from the child")
            print("from the child", file=sys.stderr)
        order.append(number)
        return number

    assert share_items(work, 3, _is_int) == [0, 1, 2]
    out, err = capfd.readouterr()
    assert "from the child" not in out + err
    order.clear()
    monkeypatch.setattr(sys, "platform", "darwin")
    assert share_items(work, 3, _is_int, meanwhile=lambda: order.append("meanwhile")) == [0, 1, 2]
    assert order == ["meanwhile", 0, 1, 2]


def test_this_process_waits_for_the_item_a_child_is_computing() -> None:
    """When only the child's current item is left, this process waits for it (a costly item is
    not computed twice) rather than computing it too."""
    import time

    parent = os.getpid()
    here: list[int] = []

    def work(number: int) -> int:
        if os.getpid() == parent:
            here.append(number)
        elif number == 0:
            time.sleep(0.3)  # the costly first item
        return number

    assert share_items(work, 3, _is_int) == [0, 1, 2]
    assert here == [2, 1]  # item 0 came from the child


@pytest.mark.parametrize(
    ("indices", "weights", "order"),
    [
        ([0, 1, 2, 3], [5, 9, 1, 3], [1, 2, 3, 0]),  # heaviest, then lightest up
        ([2, 0], [4, 0, 4], [0, 2]),  # equal weights: index order breaks the tie
        ([3], [0, 0, 0, 7], [3]),
        ([], [], []),
    ],
    ids=["mixed", "tie", "one", "none"],
)
def test_share_order_puts_the_heaviest_first_then_the_lightest(
    indices: list[int], weights: list[int], order: list[int]
) -> None:
    assert _parallel.share_order(indices, weights) == order
