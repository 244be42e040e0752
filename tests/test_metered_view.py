"""The view that counts: engine events in, Prometheus figures out (the real registry,
parsed back with prometheus-client's parser), every event still shown behind it."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.prometheus_metrics import PrometheusMetrics
from storycraft_bot.core import events as ev
from storycraft_bot.core import metered_view
from storycraft_bot.core.metered_view import MeteredView
from storycraft_bot.core.models import ChannelKey, Language, Platform, Segment, SegmentState
from storycraft_bot.core.texts import Msg
from tests.fakes import FakeClock, RecordingView

KEY = ChannelKey(Platform.DISCORD, "2000")
EN = Language.EN


async def figures(metrics: PrometheusMetrics) -> dict[str, float]:
    samples = {}
    for family in text_string_to_metric_families((await metrics.render()).decode()):
        for sample in family.samples:
            labels = ",".join(f"{v}" for _, v in sorted(sample.labels.items()))
            samples[f"{sample.name}[{labels}]"] = sample.value
    return samples


def started(segment_id: int) -> ev.SegmentStarted:
    return ev.SegmentStarted(KEY, 1, EN, segment_id, segment_id, is_group=True)


def finished(segment_id: int) -> ev.SegmentFinished:
    segment = Segment(segment_id, 1, segment_id, SegmentState.OPEN, "text", ("a", "b"), "")
    return ev.SegmentFinished(KEY, 1, EN, segment, is_group=True)


@pytest.fixture
def parts() -> tuple[MeteredView, PrometheusMetrics, RecordingView, FakeClock]:
    clock = FakeClock()
    metrics = PrometheusMetrics(clock)
    shown = RecordingView()
    return MeteredView(shown, metrics, clock), metrics, shown, clock


async def test_a_turn_is_timed_from_its_start_to_its_end(
    parts: tuple[MeteredView, PrometheusMetrics, RecordingView, FakeClock],
) -> None:
    view, metrics, shown, clock = parts
    await view.show(started(7))
    await clock.advance(42)
    await view.show(finished(7))
    got = await figures(metrics)
    assert got["storycraft_turns_total[discord]"] == 1
    assert got["storycraft_turn_seconds_sum[discord]"] == 42
    assert got["storycraft_turn_seconds_bucket[60.0,discord]"] == 1
    assert got["storycraft_turn_seconds_bucket[30.0,discord]"] == 0
    assert len(shown.events) == 2  # everything still reaches the real view


async def test_a_superseded_or_failed_part_is_no_turn(
    parts: tuple[MeteredView, PrometheusMetrics, RecordingView, FakeClock],
) -> None:
    view, metrics, _, _ = parts
    await view.show(started(1))
    await view.show(ev.SegmentSuperseded(KEY, 1, EN, 1, ev.Superseded.RETRIED))
    await view.show(finished(1))  # a late end of the superseded part counts nothing
    await view.show(started(2))
    await view.show(ev.SegmentFailed(KEY, 1, EN, 2, Msg.NARRATOR_TIMEOUT))
    await view.show(ev.SegmentFailed(KEY, 1, EN, 3, Msg.STORY_EXISTS))  # no failure code
    got = await figures(metrics)
    assert got["storycraft_turns_total[discord]"] == 0
    assert got["storycraft_failures_total[narrator_timeout]"] == 1
    assert got["storycraft_failures_total[other]"] == 1


async def test_a_picture_waits_draws_and_fails(
    parts: tuple[MeteredView, PrometheusMetrics, RecordingView, FakeClock],
) -> None:
    view, metrics, _, clock = parts
    await view.show(ev.PictureQueued(KEY, 1, EN, 5, ahead=2))
    await view.show(ev.PictureQueued(KEY, 1, EN, 6, ahead=3))
    got = await figures(metrics)
    assert got["storycraft_picture_queue_length[]"] == 2
    await clock.advance(8)
    await view.show(ev.PictureQueued(KEY, 1, EN, 5, ahead=0))  # its position, again
    await view.show(ev.PictureProgress(KEY, 1, EN, 5, percent=0))
    await view.show(ev.PictureProgress(KEY, 1, EN, 5, percent=50))  # once drawing, drawing
    got = await figures(metrics)
    assert got["storycraft_picture_queue_length[]"] == 1
    assert got["storycraft_pictures_drawing[]"] == 1
    assert got["storycraft_picture_wait_seconds_sum[]"] == 8  # from its first report
    assert got["storycraft_comfyui_idle_seconds[]"] == 0
    await view.show(ev.PictureFailed(KEY, 1, EN, 5, "down", outage=True))
    await view.show(ev.PictureDropped(KEY, 1, EN, 6))
    await clock.advance(3)
    got = await figures(metrics)
    assert got["storycraft_failures_total[picture_outage]"] == 1
    assert got["storycraft_picture_queue_length[]"] == 0
    assert got["storycraft_pictures_drawing[]"] == 0
    assert got["storycraft_comfyui_idle_seconds[]"] == 3


async def test_parts_never_ended_are_forgotten_past_the_bound(
    parts: tuple[MeteredView, PrometheusMetrics, RecordingView, FakeClock],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    view, metrics, _, _ = parts
    monkeypatch.setattr(metered_view, "FOLLOWED", 3)
    for segment_id in range(5):
        await view.show(started(segment_id))
    for segment_id in range(5):
        await view.show(finished(segment_id))
    assert (await figures(metrics))["storycraft_turns_total[discord]"] == 3  # the newest
