// Sound for the recordings: "alsasrc ! audioconvert ! audioresample ! mono at RATE ! avenc_aac ! appsink" for a
// microphone, "appsrc ! audioconvert ! avenc_aac ! appsink" for PCM the daemon makes (the test click). The pipeline
// runs on GStreamer's system clock, which reads CLOCK_MONOTONIC: a unit's running time plus the base time is then its
// capture time on the clock the cameras stamp their frames with, so sound and picture line up without guessing.
#include "audio_glue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gst/gst.h>
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>

struct bb_audio {
    GstElement *pipeline;
    GstElement *src;  // appsrc in push mode, else NULL
    GstElement *sink;
    GstBus *bus;
    /// Added to a unit's timestamp to make it CLOCK_MONOTONIC (the base time; 0 in push mode, stamped so already).
    uint64_t offset_ns;
};

static char *format_error(const char *format, const char *a) {
    size_t n = strlen(format) + (a ? strlen(a) : 0) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, format, a ? a : "");
    return s;
}

static int ensure_init(char **error) {
    GError *err = NULL;
    if (!gst_init_check(NULL, NULL, &err)) {
        *error = format_error("GStreamer did not start: %s", err ? err->message : "unknown");
        if (err) g_error_free(err);
        return -1;
    }
    return 0;
}

int bb_audio_list(char **lines, char **error) {
    *lines = NULL;
    *error = NULL;
    if (ensure_init(error) != 0) return -1;
    GstDeviceProvider *provider = gst_device_provider_factory_get_by_name("alsadeviceprovider");
    if (!provider) {
        *error = format_error("GStreamer's ALSA plugin is not installed (Debian and Raspberry Pi OS: gstreamer1.0-alsa)%s", NULL);
        return -1;
    }
    GList *devices = gst_device_provider_get_devices(provider);
    GString *out = g_string_new(NULL);
    int count = 0;
    for (GList *d = devices; d; d = d->next) {
        GstDevice *device = GST_DEVICE(d->data);
        gchar *klass = gst_device_get_device_class(device);
        if (klass && strstr(klass, "Source")) {
            gchar *name = gst_device_get_display_name(device);
            GstStructure *props = gst_device_get_properties(device);
            const gchar *card = props ? gst_structure_get_string(props, "alsa.card") : NULL;
            const gchar *dev = props ? gst_structure_get_string(props, "alsa.device") : NULL;
            if (card && dev) g_string_append_printf(out, "plughw:%s,%s\t%s\n", card, dev, name);
            else g_string_append_printf(out, "default\t%s\n", name);
            if (props) gst_structure_free(props);
            g_free(name);
            count++;
        }
        g_free(klass);
    }
    g_list_free_full(devices, gst_object_unref);
    gst_object_unref(provider);
    *lines = strdup(out->str);
    g_string_free(out, TRUE);
    return count;
}

/// The error text a pipeline's bus holds, if any (malloc'd).
static char *bus_error(GstBus *bus) {
    GstMessage *msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR | GST_MESSAGE_EOS);
    if (!msg) return NULL;
    char *text;
    if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS) {
        text = strdup("the sound stream ended");
    } else {
        GError *err = NULL;
        gchar *debug = NULL;
        gst_message_parse_error(msg, &err, &debug);
        text = format_error("%s", err ? err->message : "error");
        if (err) g_error_free(err);
        g_free(debug);
    }
    gst_message_unref(msg);
    return text;
}

bb_audio *bb_audio_open(const char *alsa_device, int rate, int bitrate, char **error) {
    *error = NULL;
    if (ensure_init(error) != 0) return NULL;
    GstElementFactory *encoder = gst_element_factory_find("avenc_aac");
    if (!encoder) {
        *error = format_error("GStreamer's AAC encoder is not installed (Debian and Raspberry Pi OS: gstreamer1.0-libav)%s", NULL);
        return NULL;
    }
    gst_object_unref(encoder);
    gchar *source;
    if (alsa_device) {
        GstElementFactory *alsa = gst_element_factory_find("alsasrc");
        if (alsa) gst_object_unref(alsa);
        if (!alsa) {
            *error = format_error("GStreamer's ALSA plugin is not installed (Debian and Raspberry Pi OS: gstreamer1.0-alsa)%s", NULL);
            return NULL;
        }
        gchar *quoted = g_strescape(alsa_device, NULL);
        // 20 ms periods: a unit leaves within a period of its capture; 200 ms of buffer rides out a busy moment.
        source = g_strdup_printf("alsasrc device=\"%s\" buffer-time=200000 latency-time=20000 ! audioconvert ! audioresample", quoted);
        g_free(quoted);
    } else {
        source = g_strdup_printf("appsrc name=src format=time is-live=true do-timestamp=false max-bytes=262144 block=false "
                                 "caps=audio/x-raw,format=S16LE,layout=interleaved,channels=1,rate=%d ! audioconvert", rate);
    }
    gchar *description = g_strdup_printf(
        "%s ! audio/x-raw,channels=1,rate=%d ! avenc_aac bitrate=%d ! appsink name=out max-buffers=200 drop=true sync=false",
        source, rate, bitrate);
    g_free(source);
    GError *err = NULL;
    GstElement *pipeline = gst_parse_launch(description, &err);
    g_free(description);
    if (!pipeline || err) {
        *error = format_error("the sound pipeline could not be built: %s", err ? err->message : "unknown");
        if (err) g_error_free(err);
        if (pipeline) gst_object_unref(pipeline);
        return NULL;
    }
    bb_audio *a = calloc(1, sizeof *a);
    a->pipeline = pipeline;
    a->sink = gst_bin_get_by_name(GST_BIN(pipeline), "out");
    a->src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
    a->bus = gst_element_get_bus(pipeline);
    GstClock *clock = gst_system_clock_obtain();  // CLOCK_MONOTONIC unless the program changed it (this one does not)
    gst_pipeline_use_clock(GST_PIPELINE(pipeline), clock);
    gst_object_unref(clock);
    if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
        *error = bus_error(a->bus);
        if (!*error) *error = strdup("the sound device did not start");
        bb_audio_close(a);
        return NULL;
    }
    return a;
}

int bb_audio_push(bb_audio *a, const int16_t *samples, size_t count, uint64_t capture_ns) {
    if (!a->src) return -1;
    GstBuffer *buffer = gst_buffer_new_memdup(samples, count * sizeof(int16_t));
    GST_BUFFER_PTS(buffer) = capture_ns;
    return gst_app_src_push_buffer(GST_APP_SRC(a->src), buffer) == GST_FLOW_OK ? 0 : -1;
}

int bb_audio_pull(bb_audio *a, uint64_t timeout_ns, bb_audio_unit *unit, char **error) {
    *error = NULL;
    memset(unit, 0, sizeof *unit);
    GstSample *sample = gst_app_sink_try_pull_sample(GST_APP_SINK(a->sink), timeout_ns);
    if (!sample) {
        *error = bus_error(a->bus);
        if (*error) return -1;
        if (gst_app_sink_is_eos(GST_APP_SINK(a->sink))) {
            *error = strdup("the sound stream ended");
            return -1;
        }
        return 0;
    }
    if (!a->src && a->offset_ns == 0) a->offset_ns = gst_element_get_base_time(a->pipeline);
    GstBuffer *buffer = gst_sample_get_buffer(sample);
    GstMapInfo map;
    if (!buffer || !gst_buffer_map(buffer, &map, GST_MAP_READ)) {
        gst_sample_unref(sample);
        *error = strdup("a sound unit could not be read");
        return -1;
    }
    unit->data = malloc(map.size ? map.size : 1);
    memcpy(unit->data, map.data, map.size);
    unit->size = map.size;
    unit->capture_ns = (GST_BUFFER_PTS_IS_VALID(buffer) ? GST_BUFFER_PTS(buffer) : 0) + a->offset_ns;
    gst_buffer_unmap(buffer, &map);
    gst_sample_unref(sample);
    return 1;
}

void bb_audio_unit_free(bb_audio_unit *unit) {
    free(unit->data);
    unit->data = NULL;
}

void bb_audio_close(bb_audio *a) {
    if (!a) return;
    if (a->src) gst_app_src_end_of_stream(GST_APP_SRC(a->src));
    gst_element_set_state(a->pipeline, GST_STATE_NULL);
    if (a->src) gst_object_unref(a->src);
    if (a->sink) gst_object_unref(a->sink);
    if (a->bus) gst_object_unref(a->bus);
    gst_object_unref(a->pipeline);
    free(a);
}
