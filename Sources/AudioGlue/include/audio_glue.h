// A microphone (ALSA) or PCM the daemon makes itself, encoded to AAC-LC by GStreamer (libavcodec's `aac` encoder
// through gst-libav's avenc_aac). Every GStreamer type stays on the C side; Swift sees this small API.
#pragma once
#include <stddef.h>
#include <stdint.h>

/// A running audio pipeline.
typedef struct bb_audio bb_audio;

/// One AAC access unit (raw, no ADTS header): `data` is malloc'd, freed by `bb_audio_unit_free`.
typedef struct {
    uint8_t *data;
    size_t size;
    /// CLOCK_MONOTONIC nanoseconds of the unit's first input sample (before the encoder's priming delay is removed).
    uint64_t capture_ns;
} bb_audio_unit;

/// The ALSA capture devices GStreamer sees, as "DEVICE\tNAME" lines in one malloc'd string (caller frees); returns how
/// many, or -1 with a malloc'd `error` when GStreamer's ALSA plugin or its AAC encoder is missing.
int bb_audio_list(char **lines, char **error);

/// Starts an encoding pipeline at `rate` Hz, mono, `bitrate` bits/s. With `alsa_device`, sound comes from that ALSA
/// device (converted and resampled); without, from `bb_audio_push`. Returns NULL with a malloc'd `error`.
bb_audio *bb_audio_open(const char *alsa_device, int rate, int bitrate, int muted, char **error);

/// Gives the pipeline `count` signed 16-bit mono samples whose first was captured at `capture_ns` (CLOCK_MONOTONIC);
/// returns 0, or -1 when the pipeline no longer takes them.
int bb_audio_push(bb_audio *audio, const int16_t *samples, size_t count, uint64_t capture_ns);

/// Waits up to `timeout_ns` for the next unit: 1 with `unit` filled, 0 on timeout, -1 when the pipeline failed or ended
/// (a malloc'd `error` says why: the device unplugged, busy, missing).
int bb_audio_pull(bb_audio *audio, uint64_t timeout_ns, bb_audio_unit *unit, char **error);

/// Mutes (1) or unmutes (0): a muted pipeline records silence, so the track goes on and the muted span is seen.
void bb_audio_set_mute(bb_audio *audio, int muted);

/// The loudest sample of the last 100 ms as recorded (after muting), in dBFS (0 = full scale, -inf as -200);
/// returns 0 with `peak_db` set, -1 before any was measured.
int bb_audio_peak(bb_audio *audio, double *peak_db);

/// Frees a pulled unit's bytes.
void bb_audio_unit_free(bb_audio_unit *unit);

/// Stops the pipeline and frees it (the device is released before it returns).
void bb_audio_close(bb_audio *audio);
