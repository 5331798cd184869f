// libcamera cameras in the daemon's own process, through GStreamer's libcamerasrc. The element is built against the
// system's libcamera (Debian's 0.0.3, Raspberry Pi's 0.5.x): going through it, the daemon never links libcamera's C++
// API, whose ABI changes with every 0.x release. "libcamerasrc ! size ! videorate ! videoconvert ! I420 ! appsink":
// libcamerasrc 0.0.3 cannot be asked for a frame rate (its caps say the camera's), so videorate drops frames above
// the asked rate (nothing is copied; a Pi's 0.5 honours the rate itself and videorate then passes everything); the
// convert is a passthrough when the camera already gives I420 (the Pi's ISP does); at most two frames wait in the
// appsink, and a frame that finds two waiting is dropped and counted (a slow consumer never holds the camera's buffers).
// What videorate drops is the asked rate, not a loss, and is not counted.
#include "capture_glue.h"
#include "gst_glue.h"
#include "libcamera_hold.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gst/gst.h>
#include <gst/app/gstappsink.h>
#include <gst/video/video.h>

struct bb_capture {
    GstElement *pipeline;
    GstElement *sink;
    GstBus *bus;
    // libcamerasrc's buffer pool and allocator, kept past the element (see keep_camera_buffers).
    GstBufferPool *pool;
    GstAllocator *allocator;
    // Frames let into the appsink and pulled out of it, and frames dropped because two were waiting (appsink's own
    // drop=true counts nothing). Unsigned: the difference stays right when the counts wrap, after years at 30 fps.
    guint passed, pulled, dropped;
};

typedef struct {
    GstSample *sample;
    GstVideoFrame frame;
} pulled;

static int ensure_init(char **error) {
    // libcamera logs its INFO and WARN lines (in colour) to stderr; the daemon says what matters itself. A user's own
    // LIBCAMERA_LOG_LEVELS is kept.
    setenv("LIBCAMERA_LOG_LEVELS", "*:ERROR", 0);
    return bb_gst_init(error);
}

int bb_libcamera_list(char **lines, char **error) {
    *lines = NULL;
    *error = NULL;
    if (ensure_init(error) != 0) return -1;
    GstDeviceProvider *provider = gst_device_provider_factory_get_by_name("libcameraprovider");
    if (!provider) {
        *error = strdup("GStreamer's libcamera plugin is not installed (Debian and Raspberry Pi OS: gstreamer1.0-libcamera)");
        return -1;
    }
    GList *devices = gst_device_provider_get_devices(provider);
    GString *out = g_string_new(NULL);
    int count = 0;
    for (GList *d = devices; d; d = d->next) {
        GstDevice *device = GST_DEVICE(d->data);
        gchar *name = gst_device_get_display_name(device);
        GstStructure *props = gst_device_get_properties(device);
        const gchar *id = props ? gst_structure_get_string(props, "api.libcamera.name") : NULL;
        GstElement *element = id ? NULL : gst_device_create_element(device, NULL);
        gchar *from_element = NULL;
        if (element) g_object_get(element, "camera-name", &from_element, NULL);
        g_string_append_printf(out, "%s\t%s\t", id ? id : (from_element ? from_element : name), name);
        GstCaps *caps = gst_device_get_caps(device);
        for (guint i = 0; caps && i < gst_caps_get_size(caps); i++) {
            const GstStructure *s = gst_caps_get_structure(caps, i);
            int w = 0, h = 0;
            if (gst_structure_get_int(s, "width", &w) && gst_structure_get_int(s, "height", &h))
                g_string_append_printf(out, "%s%dx%d", i ? "," : "", w, h);
        }
        g_string_append_c(out, '\n');
        if (caps) gst_caps_unref(caps);
        if (element) gst_object_unref(element);
        g_free(from_element);
        if (props) gst_structure_free(props);
        g_free(name);
        count++;
    }
    g_list_free_full(devices, gst_object_unref);
    gst_object_unref(provider);
    *lines = strdup(out->str);
    g_string_free(out, TRUE);
    return count;
}

/// The error or warning text a pipeline's bus holds, if any (malloc'd).
static char *bus_error(GstBus *bus) {
    GstMessage *msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR | GST_MESSAGE_EOS);
    if (!msg) return NULL;
    // libcamerasrc puts the useful part ("Camera in use", "cameras() is empty") in the debug text.
    char *text = bb_gst_message_text(msg, "the camera's stream ended", 1);
    gst_message_unref(msg);
    return text;
}

/// Keeps libcamerasrc's CameraManager for the process, before the first camera opens (libcamera_hold.cpp says why).
static void hold_camera_manager(void) {
    GstPlugin *plugin = gst_registry_find_plugin(gst_registry_get(), "libcamera");
    if (!plugin) return;
    const gchar *path = gst_plugin_get_filename(plugin);
    if (path && !bb_libcamera_hold(path)) GST_WARNING("libcamera's CameraManager could not be held: unplugging a camera may crash");
    gst_object_unref(plugin);
}

/// libcamerasrc 0.0.3 loses a camera pulled out while streamed badly: the camera refuses to stop, so the requests it
/// had queued are freed only with the element, after its task, and their buffers' return then resumes the freed task
/// and frees libcamera's buffers before the requests that still point at them (SIGSEGV). The first buffer out of the
/// element tells its pool and allocator (public GstBuffer and GstMemory fields); holding both until the element is
/// gone keeps the buffers alive past the requests, and the pool's wake-up of the task is cut before the teardown.
static GstPadProbeReturn keep_camera_buffers(GstPad *pad, GstPadProbeInfo *info, gpointer data) {
    (void)pad;
    bb_capture *c = data;
    GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER(info);
    GstMemory *memory = buffer && gst_buffer_n_memory(buffer) > 0 ? gst_buffer_peek_memory(buffer, 0) : NULL;
    if (!memory || !memory->allocator || !buffer->pool) return GST_PAD_PROBE_OK;
    g_atomic_pointer_set(&c->allocator, gst_object_ref(memory->allocator));
    g_atomic_pointer_set(&c->pool, gst_object_ref(buffer->pool));
    return GST_PAD_PROBE_REMOVE;
}

/// Lets a frame into the appsink only while fewer than two wait there; drops and counts it otherwise. The consumer
/// only ever lowers the number waiting, so the appsink never drops one itself.
static GstPadProbeReturn count_drops(GstPad *pad, GstPadProbeInfo *info, gpointer data) {
    (void)pad;
    (void)info;
    bb_capture *c = data;
    if (g_atomic_int_get(&c->passed) - g_atomic_int_get(&c->pulled) >= 2) {
        g_atomic_int_inc(&c->dropped);
        return GST_PAD_PROBE_DROP;
    }
    g_atomic_int_inc(&c->passed);
    return GST_PAD_PROBE_OK;
}

int bb_capture_take_dropped(bb_capture *c) {
    return (int)g_atomic_int_and(&c->dropped, 0);
}

bb_capture *bb_capture_open(const char *camera_id, const char *fake, int width, int height, int fps, char **error) {
    *error = NULL;
    if (ensure_init(error) != 0) return NULL;
    gchar *source;
    if (fake && *fake) {
        source = g_strdup(fake);
    } else if (camera_id && *camera_id) {
        gchar *quoted = g_strescape(camera_id, NULL);
        source = g_strdup_printf("libcamerasrc name=camera camera-name=\"%s\"", quoted);
        g_free(quoted);
    } else {
        source = g_strdup("libcamerasrc name=camera");
    }
    gchar *description = g_strdup_printf(
        "%s ! video/x-raw,width=%d,height=%d ! videorate drop-only=true max-rate=%d ! videoconvert ! video/x-raw,format=I420 "
        "! appsink name=out max-buffers=2 drop=true sync=false", source, width, height, fps);
    g_free(source);
    GError *err = NULL;
    GstElement *pipeline = gst_parse_launch(description, &err);
    g_free(description);
    if (!pipeline || err) {
        *error = bb_gst_format("the capture pipeline could not be built: %s", err ? err->message : "unknown", NULL);
        if (err) g_error_free(err);
        if (pipeline) gst_object_unref(pipeline);
        return NULL;
    }
    if (!(fake && *fake)) hold_camera_manager();
    bb_capture *c = calloc(1, sizeof *c);
    bb_libcamera_pipelines(1);
    c->pipeline = pipeline;
    c->sink = gst_bin_get_by_name(GST_BIN(pipeline), "out");
    c->bus = gst_element_get_bus(pipeline);
    GstPad *into = gst_element_get_static_pad(c->sink, "sink");
    gst_pad_add_probe(into, GST_PAD_PROBE_TYPE_BUFFER, count_drops, c, NULL);
    gst_object_unref(into);
    GstElement *camera = fake && *fake ? NULL : gst_bin_get_by_name(GST_BIN(pipeline), "camera");
    GstPad *pad = camera ? gst_element_get_static_pad(camera, "src") : NULL;
    if (pad) gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, keep_camera_buffers, c, NULL);
    if (pad) gst_object_unref(pad);
    if (camera) gst_object_unref(camera);
    if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
        *error = bus_error(c->bus);
        if (!*error) *error = strdup("the camera did not start");
        bb_capture_close(c);
        return NULL;
    }
    return c;
}

int bb_capture_pull(bb_capture *c, uint64_t timeout_ns, bb_frame *frame, char **error) {
    *error = NULL;
    memset(frame, 0, sizeof *frame);
    GstSample *sample = gst_app_sink_try_pull_sample(GST_APP_SINK(c->sink), timeout_ns);
    if (!sample) {
        *error = bus_error(c->bus);
        if (*error) return -1;
        if (gst_app_sink_is_eos(GST_APP_SINK(c->sink))) {
            *error = strdup("the camera's stream ended");
            return -1;
        }
        return 0;
    }
    g_atomic_int_inc(&c->pulled);
    GstVideoInfo info;
    GstCaps *caps = gst_sample_get_caps(sample);
    GstBuffer *buffer = gst_sample_get_buffer(sample);
    pulled *p = calloc(1, sizeof *p);
    if (!p || !caps || !buffer || !gst_video_info_from_caps(&info, caps) || !gst_video_frame_map(&p->frame, &info, buffer, GST_MAP_READ)) {
        free(p);
        gst_sample_unref(sample);
        *error = strdup("a frame from the camera could not be read");
        return -1;
    }
    p->sample = sample;
    frame->opaque = p;
    for (int i = 0; i < 3; i++) {
        frame->planes[i] = GST_VIDEO_FRAME_PLANE_DATA(&p->frame, i);
        frame->strides[i] = GST_VIDEO_FRAME_PLANE_STRIDE(&p->frame, i);
    }
    frame->width = GST_VIDEO_INFO_WIDTH(&info);
    frame->height = GST_VIDEO_INFO_HEIGHT(&info);
    frame->pts_ns = GST_BUFFER_PTS_IS_VALID(buffer) ? GST_BUFFER_PTS(buffer) : 0;
    return 1;
}

void bb_frame_release(bb_frame *frame) {
    pulled *p = frame->opaque;
    if (!p) return;
    gst_video_frame_unmap(&p->frame);
    gst_sample_unref(p->sample);
    free(p);
    frame->opaque = NULL;
}

void bb_capture_close(bb_capture *c) {
    if (!c) return;
    GstBufferPool *pool = g_atomic_pointer_get(&c->pool);
    if (pool) g_signal_handlers_disconnect_matched(pool, G_SIGNAL_MATCH_FUNC, 0, 0, NULL, (gpointer)gst_task_resume, NULL);
    gst_element_set_state(c->pipeline, GST_STATE_NULL);
    if (c->sink) gst_object_unref(c->sink);
    if (c->bus) gst_object_unref(c->bus);
    gst_object_unref(c->pipeline);
    // Only now, with the element and its requests gone, may libcamera's buffers go.
    if (c->pool) gst_object_unref(c->pool);
    if (c->allocator) gst_object_unref(c->allocator);
    bb_libcamera_pipelines(-1);
    free(c);
}
