"""The six translation tasks of U-MUST (paper §2, Table 11) and their directions."""

from __future__ import annotations

from dataclasses import dataclass

from ..vocabulary import Modality


@dataclass(frozen=True)
class Task:
    """A translation task: a source modality, a target modality and the paper's direction."""

    name: str
    source: Modality
    target: Modality
    direction: str  # "i2a" (image-to-audio side) or "a2i" (audio-to-image side)
    description: str


TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task("omr", Modality.IMAGE, Modality.NOTATION, "i2a", "optical music recognition: score image -> LMX"),
        Task("m2a", Modality.MIDI, Modality.AUDIO, "i2a", "MIDI-to-audio synthesis"),
        Task("i2a", Modality.IMAGE, Modality.AUDIO, "i2a", "score image -> performance audio"),
        Task("amt", Modality.AUDIO, Modality.MIDI, "a2i", "automatic music transcription: audio -> MIDI"),
        Task("l2i", Modality.NOTATION, Modality.IMAGE, "a2i", "LMX -> score image (engraving)"),
        Task("a2i", Modality.AUDIO, Modality.IMAGE, "a2i", "performance audio -> score image"),
    )
}

#: The order reports list the tasks in: the two readers (OMR, AMT), then the four generators.
REPORT_ORDER: tuple[str, ...] = ("omr", "amt", "m2a", "i2a", "l2i", "a2i")


def get_task(name: str) -> Task:
    """Look a task up by name, with an error that lists the valid names."""
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; expected one of: {', '.join(TASKS)}") from None


def task_for(source: Modality | str, target: Modality | str) -> Task:
    """The task translating ``source`` into ``target``."""
    source, target = Modality.parse(source), Modality.parse(target)
    for task in TASKS.values():
        if task.source is source and task.target is target:
            return task
    raise ValueError(f"no U-MUST task translates {source.value} into {target.value}")
