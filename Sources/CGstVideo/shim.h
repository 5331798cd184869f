// GStreamer's appsink and video helpers (Debian libgstreamer-plugins-base1.0-dev); used only by the CaptureGlue C target.
#include <gst/gst.h>
#include <gst/app/gstappsink.h>
#include <gst/video/video.h>
