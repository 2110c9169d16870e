import pytest

from aiplane.core.errors import IllegalTransitionError
from aiplane.core.runs import TRANSITIONS, Run, RunState


def make(state: RunState) -> Run:
    return Run(id="r1", job_id="j1", state=state, created_at=0.0, updated_at=0.0)


ALLOWED = [(a, b) for a in RunState for b in TRANSITIONS[a]]
FORBIDDEN = [(a, b) for a in RunState for b in RunState if b not in TRANSITIONS[a]]


@pytest.mark.parametrize(("start", "end"), ALLOWED)
def test_allowed_transitions_apply(start: RunState, end: RunState) -> None:
    moved = make(start).transition(end, 5.0, "because")
    assert moved.state is end
    assert moved.updated_at == 5.0
    assert moved.reason == "because"


@pytest.mark.parametrize(("start", "end"), FORBIDDEN)
def test_illegal_transitions_raise(start: RunState, end: RunState) -> None:
    with pytest.raises(IllegalTransitionError):
        make(start).transition(end, 5.0)


def test_terminal_states_have_no_way_out() -> None:
    for state in (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED):
        assert not TRANSITIONS[state]


def test_timestamps_and_requeue() -> None:
    run = make(RunState.STARTING).transition(RunState.RUNNING, 10.0)
    assert run.started_at == 10.0
    done = run.transition(RunState.SUCCEEDED, 20.0)
    assert done.finished_at == 20.0 and done.started_at == 10.0
    preempted = run.transition(RunState.PREEMPTED, 12.0)
    requeued = preempted.transition(RunState.PENDING, 13.0)
    assert requeued.attempt == 2 and requeued.placement is None and requeued.handles == ()
