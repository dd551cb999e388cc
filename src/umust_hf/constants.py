"""Numbers that several modules must agree on (paper Appendix A and D)."""

#: Audio: 44.1 kHz mono, DAC hop 512 samples (about 86 frames per second).
SAMPLE_RATE = 44100
HOP_LENGTH = 512
#: Score images: one RQ-VAE token per 16 x 16 patch.
PATCH_SIZE = 16
#: Staff height (top line to bottom line) every system image is normalised to, in pixels.
STAFF_HEIGHT_PX = 32
#: Height of every normalised system image, in pixels (a multiple of PATCH_SIZE; a grand
#: staff with a few ledger lines above and below fits).
SYSTEM_HEIGHT_PX = 192
#: Number of residual codebooks for image and audio tokens.
NUM_CODEBOOKS = 4
CODEBOOK_SIZE = 1024
#: MIDI events: 10 ms time steps, 20 s segments (YourMT3+ with U-MusT's max shift).
MIDI_STEPS_PER_SECOND = 100
MIDI_MAX_SHIFT_STEPS = 2001
