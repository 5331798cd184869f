// A camera read through GStreamer: libcamera's own element (libcamerasrc) into an appsink, frames out as I420 planes.
// Every GStreamer type stays on the C side; Swift sees this small API.
#pragma once
#include <stddef.h>
#include <stdint.h>

/// A running capture pipeline.
typedef struct bb_capture bb_capture;

/// One frame pulled from the pipeline: I420 planes valid until `bb_frame_release`.
typedef struct {
    void *opaque;
    const uint8_t *planes[3];
    int strides[3];
    int width, height;
    /// The frame's time in the pipeline, nanoseconds (0 when unknown).
    uint64_t pts_ns;
} bb_frame;

/// The cameras libcamera sees, as "ID\tMODEL\tWxH,WxH,…" lines in one malloc'd string (caller frees); returns how many
/// (0: none) or -1 with a malloc'd `error` when libcamera's GStreamer plugin is missing.
int bb_libcamera_list(char **lines, char **error);

/// Starts a pipeline reading libcamera camera `camera_id` (NULL: the first) at width×height and fps, converted to
/// I420 when the camera gives another layout. `fake` replaces libcamerasrc by a gst-launch description (tests with no
/// camera). Returns NULL with a malloc'd `error` naming what failed.
bb_capture *bb_capture_open(const char *camera_id, const char *fake, int width, int height, int fps, char **error);

/// Waits up to `timeout_ns` for the next frame: 1 with `frame` filled, 0 on timeout, -1 when the pipeline failed or
/// ended (a malloc'd `error` says why: the camera unplugged, held by another program, …).
int bb_capture_pull(bb_capture *capture, uint64_t timeout_ns, bb_frame *frame, char **error);

/// Frames dropped since the last call because the consumer was behind (two already waited for it).
int bb_capture_take_dropped(bb_capture *capture);

/// Gives a pulled frame back.
void bb_frame_release(bb_frame *frame);

/// Stops the pipeline and frees it (the camera is released before it returns).
void bb_capture_close(bb_capture *capture);
