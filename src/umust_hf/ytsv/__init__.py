"""YouTube Score Video (YTSV) pipeline (paper Section 4 and Appendix C).

Users bring the videos; these modules turn them into system-image/audio pairs:

- :mod:`.metadata`   the published metadata CSV: typed records and field filters
- :mod:`.media`      frames (OpenCV) and audio (embedded track or sibling file, via imageio-ffmpeg)
- :mod:`.slides`     slide segmentation: hard cuts and animated transitions, cursor-robust
- :mod:`.pages`      labelled pages (system/staff boxes) to train the detectors on
- :mod:`.detectors`  YOLOv8 system and staff detectors: dataset writing, training, evaluation, inference
- :mod:`.systems`    system crops normalised by detected staff height (via ``UMustImageProcessor``)
- :mod:`.filters`    statistical filters, each a pure function with a documented threshold
- :mod:`.pipeline`   per-video, resumable HF Dataset writing; ``umust ytsv`` drives it
- :mod:`.synthetic`  synthetic score videos from embedded-corpus pages and audio, with known boundaries (tests)
"""
