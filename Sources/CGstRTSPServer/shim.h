// GStreamer's RTSP server and appsrc (Debian libgstrtspserver-1.0-dev); used only by the RTSPGlue C target.
#include <gst/gst.h>
#include <gst/app/gstappsrc.h>
#include <gst/rtsp-server/rtsp-server.h>
