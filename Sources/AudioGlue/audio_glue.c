// Sound for the recordings: "alsasrc ! audioconvert ! audioresample ! mono at RATE ! avenc_aac ! appsink" for a
// microphone, "appsrc ! audioconvert ! avenc_aac ! appsink" for PCM the daemon makes (the test click). The pipeline
// runs on GStreamer's system clock, which reads CLOCK_MONOTONIC: a unit's running time plus the base time is then its
// capture time on the clock the cameras stamp their frames with, so sound and picture line up without guessing.
#include "audio_glue.h"
#include "gst_glue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gst/gst.h>
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>

/// What is missing, in the words of the packages to install.
#define NO_AAC "GStreamer's AAC encoder is not installed (Debian and Raspberry Pi OS: gstreamer1.0-libav)"
#define NO_ALSA "GStreamer's ALSA plugin is not installed (Debian and Raspberry Pi OS: gstreamer1.0-alsa)"

struct bb_audio {
    GstElement *pipeline;
    GstElement *src;  // appsrc in push mode, else NULL
    GstElement *sink;
    GstBus *bus;
    GstElement *volume;
    /// Added to a unit's timestamp to make it CLOCK_MONOTONIC (the base time; 0 in push mode, stamped so already).
    uint64_t offset_ns;
    /// The level element's last peak, dBFS (valid when has_peak).
    double peak_db;
    int has_peak;
};

int bb_audio_list(char **lines, char **error) {
    *lines = NULL;
    *error = NULL;
    if (bb_gst_init(error) != 0) return -1;
    GstElementFactory *encoder = gst_element_factory_find("avenc_aac");
    if (!encoder) {
        *error = strdup(NO_AAC);
        return -1;
    }
    gst_object_unref(encoder);
    GstDeviceProvider *provider = gst_device_provider_factory_get_by_name("alsadeviceprovider");
    if (!provider) {
        *error = strdup(NO_ALSA);
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
            // The element the device makes knows its ALSA name (hw:CARD,DEV); plughw: converts rate and format.
            GstElement *element = gst_device_create_element(device, NULL);
            gchar *alsa = NULL;
            if (element) g_object_get(element, "device", &alsa, NULL);
            if (alsa && g_str_has_prefix(alsa, "hw:")) g_string_append_printf(out, "plug%s\t%s\n", alsa, name);
            else g_string_append_printf(out, "%s\t%s\n", alsa ? alsa : "default", name);
            g_free(alsa);
            if (element) gst_object_unref(element);
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

/// Empties the bus (nothing is left to pile up over months): the level element's newest peak is kept, and the
/// first error or end of stream is returned (malloc'd), else NULL.
static char *drain_bus(GstBus *bus, double *peak_db, int *has_peak) {
    char *failure = NULL;
    GstMessage *msg;
    while ((msg = gst_bus_pop(bus))) {
        GstMessageType type = GST_MESSAGE_TYPE(msg);
        const GstStructure *s = gst_message_get_structure(msg);
        if ((type == GST_MESSAGE_ERROR || type == GST_MESSAGE_EOS) && !failure) {
            failure = bb_gst_message_text(msg, "the sound stream ended", 0);
        } else if (type == GST_MESSAGE_ELEMENT && s && gst_structure_has_name(s, "level") && peak_db) {
            // "peak" is a GValueArray of one double per channel (mono: one).
            const GValue *peaks = gst_structure_get_value(s, "peak");
            G_GNUC_BEGIN_IGNORE_DEPRECATIONS
            GValueArray *array = peaks ? (GValueArray *)g_value_get_boxed(peaks) : NULL;
            if (array && array->n_values > 0) {
                double db = g_value_get_double(g_value_array_get_nth(array, 0));
                *peak_db = db < -200 ? -200 : db;
                *has_peak = 1;
            }
            G_GNUC_END_IGNORE_DEPRECATIONS
        }
        gst_message_unref(msg);
    }
    return failure;
}

bb_audio *bb_audio_open(const char *alsa_device, int rate, int bitrate, int muted, char **error) {
    *error = NULL;
    if (bb_gst_init(error) != 0) return NULL;
    GstElementFactory *encoder = gst_element_factory_find("avenc_aac");
    if (!encoder) {
        *error = strdup(NO_AAC);
        return NULL;
    }
    gst_object_unref(encoder);
    gchar *source;
    if (alsa_device) {
        GstElementFactory *alsa = gst_element_factory_find("alsasrc");
        if (alsa) gst_object_unref(alsa);
        if (!alsa) {
            *error = strdup(NO_ALSA);
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
        "%s ! audio/x-raw,channels=1,rate=%d ! volume name=vol mute=%s ! level name=meter interval=100000000 post-messages=true "
        "! avenc_aac bitrate=%d ! appsink name=out max-buffers=200 drop=true sync=false",
        source, rate, muted ? "true" : "false", bitrate);
    g_free(source);
    GError *err = NULL;
    GstElement *pipeline = gst_parse_launch(description, &err);
    g_free(description);
    if (!pipeline || err) {
        *error = bb_gst_format("the sound pipeline could not be built: %s", err ? err->message : "unknown", NULL);
        if (err) g_error_free(err);
        if (pipeline) gst_object_unref(pipeline);
        return NULL;
    }
    bb_audio *a = calloc(1, sizeof *a);
    a->pipeline = pipeline;
    a->sink = gst_bin_get_by_name(GST_BIN(pipeline), "out");
    a->src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
    a->volume = gst_bin_get_by_name(GST_BIN(pipeline), "vol");
    a->bus = gst_element_get_bus(pipeline);
    GstClock *clock = gst_system_clock_obtain();  // CLOCK_MONOTONIC unless the program changed it (this one does not)
    gst_pipeline_use_clock(GST_PIPELINE(pipeline), clock);
    gst_object_unref(clock);
    if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
        *error = drain_bus(a->bus, NULL, NULL);
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
    *error = drain_bus(a->bus, &a->peak_db, &a->has_peak);
    if (*error) return -1;
    GstSample *sample = gst_app_sink_try_pull_sample(GST_APP_SINK(a->sink), timeout_ns);
    if (!sample) {
        *error = drain_bus(a->bus, &a->peak_db, &a->has_peak);
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

void bb_audio_set_mute(bb_audio *a, int muted) {
    if (a->volume) g_object_set(a->volume, "mute", muted ? TRUE : FALSE, NULL);
}

int bb_audio_peak(bb_audio *a, double *peak_db) {
    if (!a->has_peak) return -1;
    *peak_db = a->peak_db;
    return 0;
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
    if (a->volume) gst_object_unref(a->volume);
    if (a->sink) gst_object_unref(a->sink);
    if (a->bus) gst_object_unref(a->bus);
    gst_object_unref(a->pipeline);
    free(a);
}
