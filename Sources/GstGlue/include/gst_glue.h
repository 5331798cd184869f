// What the GStreamer glue targets (capture, sound, RTSP) share: starting GStreamer, and error texts as malloc'd
// strings for Swift to take and free.
#ifndef BB_GST_GLUE_H
#define BB_GST_GLUE_H

#include <gst/gst.h>

/// Starts GStreamer once for the process (later calls return at once). 0, or -1 with *error set (malloc'd).
int bb_gst_init(char **error);

/// `format` with its one or two `%s` filled by `a` and `b` (NULL counts as ""), malloc'd.
char *bb_gst_format(const char *format, const char *a, const char *b);

/// What an error or end-of-stream message says, malloc'd: `eos` for the end of the stream; with `detail`, the last
/// line of the element's debug text is added (libcamerasrc puts the useful part, "Camera in use", there).
char *bb_gst_message_text(GstMessage *msg, const char *eos, int detail);

#endif
