// The daemon's RTSP server is GStreamer's gst-rtsp-server: one shared media per camera, "appsrc ! rtph264pay",
// fed with the access units the daemon's x264 already made (no second encoder, no re-parsing). This file keeps
// every GStreamer type on the C side; Swift sees the small API of rtsp_glue.h.
#define _GNU_SOURCE
#include "rtsp_glue.h"
#include "gst_glue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <gst/gst.h>
#include <gst/app/gstappsrc.h>
#include <gst/rtsp-server/rtsp-server.h>

#define MAX_MOUNTS 16
// RTSP connections at once: beyond, a new one is closed at once (counted), so a flood of clients can take neither
// the descriptors nor the threads the cameras and the recorder need. Idle connections end after 60 s (the library's).
#define MAX_CLIENTS 64
// A client's backlog beyond this many bytes queued in appsrc means the pipeline is behind: frames are dropped
// (and the sender waits for the next keyframe) instead of growing a queue.
#define MAX_QUEUED_BYTES (4 * 1024 * 1024)

// ---- feeding an appsrc ----------------------------------------------------------------------------------------

/// An appsrc and the decoder configuration its caps carry now.
typedef struct {
    GstElement *src;
    GBytes *config;
    int width, height;
    /// The running time given to the last access unit (GST_CLOCK_TIME_NONE before the first).
    GstClockTime last_pts;
    /// Capture time of the first unit pushed before the pipeline had a clock (0: none yet).
    uint64_t first_capture_ns;
} feed;

static void feed_clear(feed *f) {
    if (f->src) gst_object_unref(f->src);
    if (f->config) g_bytes_unref(f->config);
    f->src = NULL;
    f->last_pts = GST_CLOCK_TIME_NONE;
    f->first_capture_ns = 0;
    f->config = NULL;
}

/// Sets caps when the stream's configuration or size changed, then pushes one access unit, timed by its capture.
/// CLOCK_MONOTONIC now, in nanoseconds (what capture times are read from).
static uint64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/// The running time of a capture at `capture_ns` (CLOCK_MONOTONIC) on the pipeline's `clock`. GStreamer's system clock
/// reads CLOCK_MONOTONIC too: then it is the capture time less the base time, exactly, whatever the scheduling. Any
/// other clock is read now and the capture's age taken off (a late thread then shifts that one frame).
static GstClockTime running_time(GstClock *clock, GstClockTime base, uint64_t capture_ns) {
    gint type = -1;
    if (GST_IS_SYSTEM_CLOCK(clock)) g_object_get(clock, "clock-type", &type, NULL);
    if (type == GST_CLOCK_TYPE_MONOTONIC) return capture_ns > base ? capture_ns - base : 0;
    GstClockTime now = gst_clock_get_time(clock);
    uint64_t mono = monotonic_ns();
    uint64_t age = mono > capture_ns ? mono - capture_ns : 0;
    return now > base + age ? now - base - age : 0;
}

static int feed_push(feed *f, const uint8_t *config, size_t config_size, int width, int height, int fps, const uint8_t *data,
                     size_t size, int keyframe, uint64_t capture_ns) {
    GstAppSrc *src = GST_APP_SRC(f->src);
    int same = f->config && g_bytes_get_size(f->config) == config_size &&
               memcmp(g_bytes_get_data(f->config, NULL), config, config_size) == 0 && f->width == width && f->height == height;
    if (!same) {
        GstBuffer *codec_data = gst_buffer_new_memdup(config, config_size);
        GstCaps *caps = gst_caps_new_simple("video/x-h264", "stream-format", G_TYPE_STRING, "avc", "alignment", G_TYPE_STRING, "au",
                                            "codec_data", GST_TYPE_BUFFER, codec_data, "width", G_TYPE_INT, width, "height", G_TYPE_INT,
                                            height, "framerate", GST_TYPE_FRACTION, fps > 0 ? fps : 0, 1, NULL);
        gst_app_src_set_caps(src, caps);
        gst_caps_unref(caps);
        gst_buffer_unref(codec_data);
        if (f->config) g_bytes_unref(f->config);
        f->config = g_bytes_new(config, config_size);
        f->width = width;
        f->height = height;
    }
    if (gst_app_src_get_current_level_bytes(src) > MAX_QUEUED_BYTES) return -1;
    GstBuffer *buffer = gst_buffer_new_memdup(data, size);
    if (!keyframe) GST_BUFFER_FLAG_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT);
    // Running time of the capture: the RTP timestamps (and the RTCP sender reports' wall-clock mapping) then
    // follow the camera, not the encoder's latency nor this thread's scheduling. Units queued before the pipeline has
    // a clock (a client just connected) are spaced by their capture times from 0: left to appsrc, they were stamped
    // when dequeued, all at once. Never twice the same: a receiver's muxer refuses a timestamp that does not grow.
    // A pipeline that has its clock but does not play yet has no base time either: the capture would be placed at the
    // clock's absolute time, and every frame after it 1 ms apart (the receivers' "equal timestamps"). Until it plays,
    // units are spaced from 0 by their capture times.
    GstClock *clock = gst_element_get_clock(f->src);
    GstClockTime pts;
    if (clock && GST_STATE(f->src) == GST_STATE_PLAYING) {
        pts = running_time(clock, gst_element_get_base_time(f->src), capture_ns);
        gst_object_unref(clock);
    } else {
        if (clock) gst_object_unref(clock);
        if (f->first_capture_ns == 0) f->first_capture_ns = capture_ns;
        pts = capture_ns > f->first_capture_ns ? capture_ns - f->first_capture_ns : 0;
    }
    if (GST_CLOCK_TIME_IS_VALID(f->last_pts) && pts <= f->last_pts) pts = f->last_pts + GST_MSECOND;
    f->last_pts = pts;
    GST_BUFFER_PTS(buffer) = GST_BUFFER_DTS(buffer) = pts;
    return gst_app_src_push_buffer(src, buffer) == GST_FLOW_OK ? 1 : -1;
}

/// The appsrc settings: live, timed, never blocking the caller.
#define APPSRC "appsrc name=src is-live=true format=time do-timestamp=false block=false"

// ---- authentication -------------------------------------------------------------------------------------------

/// GstRTSPAuth with Basic checked by the daemon (it keeps only a bcrypt hash, not the password), Digest by GStreamer.
typedef struct {
    GstRTSPAuth parent;
    bb_rtsp_callbacks callbacks;
    GstRTSPToken *user_token;
} BbAuth;

typedef struct {
    GstRTSPAuthClass parent_class;
} BbAuthClass;

G_DEFINE_TYPE(BbAuth, bb_auth, GST_TYPE_RTSP_AUTH)

/// The client's address, for throttling failed logins.
static const gchar *client_address(GstRTSPContext *ctx) {
    GstRTSPConnection *connection = ctx->client ? gst_rtsp_client_get_connection(ctx->client) : NULL;
    const gchar *ip = connection ? gst_rtsp_connection_get_ip(connection) : NULL;
    return ip ? ip : "unknown";
}

static gboolean bb_auth_authenticate(GstRTSPAuth *auth, GstRTSPContext *ctx) {
    BbAuth *self = (BbAuth *)auth;
    const gchar *header = NULL;
    if (ctx->request) gst_rtsp_message_get_header(ctx->request, GST_RTSP_HDR_AUTHORIZATION, (gchar **)&header, 0);
    if (!header) return GST_RTSP_AUTH_CLASS(bb_auth_parent_class)->authenticate(auth, ctx);
    const gchar *address = client_address(ctx);
    bb_rtsp_callbacks *cb = &self->callbacks;
    // An address that failed too often lately is not checked at all until it has waited (a 401 again).
    if (cb->throttled && cb->throttled(cb->context, address)) return TRUE;
    if (g_ascii_strncasecmp(header, "basic ", 6) == 0 && cb->check_password) {
        gsize length = 0;
        gchar *copy = g_strstrip(g_strdup(header + 6));
        guchar *decoded = g_base64_decode(copy, &length);
        g_free(copy);
        gchar *text = g_strndup((const gchar *)decoded, length);
        g_free(decoded);
        gchar *colon = strchr(text, ':');
        int ok = 0;
        if (colon) {
            *colon = 0;
            ok = cb->check_password(cb->context, text, colon + 1);
        }
        memset(text, 0, length);
        g_free(text);
        if (cb->authenticated) cb->authenticated(cb->context, address, ok);
        if (!ok) return GST_RTSP_AUTH_CLASS(bb_auth_parent_class)->authenticate(auth, ctx);  // anonymous, if public
        ctx->token = self->user_token;
        return TRUE;
    }
    // Digest the library's own way (the nonce it gave this client, the stored HA1).
    gboolean result = GST_RTSP_AUTH_CLASS(bb_auth_parent_class)->authenticate(auth, ctx);
    if (cb->authenticated) cb->authenticated(cb->context, address, ctx->token == self->user_token);
    return result;
}

static void bb_auth_finalize(GObject *object) {
    BbAuth *self = (BbAuth *)object;
    if (self->user_token) gst_rtsp_token_unref(self->user_token);
    G_OBJECT_CLASS(bb_auth_parent_class)->finalize(object);
}

static void bb_auth_class_init(BbAuthClass *klass) {
    GST_RTSP_AUTH_CLASS(klass)->authenticate = bb_auth_authenticate;
    G_OBJECT_CLASS(klass)->finalize = bb_auth_finalize;
}

static void bb_auth_init(BbAuth *self) {
    self->user_token = gst_rtsp_token_new(GST_RTSP_TOKEN_MEDIA_FACTORY_ROLE, G_TYPE_STRING, "viewer", NULL);
}

// ---- server ---------------------------------------------------------------------------------------------------

typedef struct {
    bb_rtsp_server *owner;
    int index;
    char *path;
    GMutex lock;
    feed feed;
    GstRTSPMedia *media;  // the prepared shared media, not owned
    /// The sound's appsrc while the media is prepared (NULL without sound), and the last running time given to it.
    GstElement *sound_src;
    GstClockTime sound_last;
    /// 1 from the moment the shared media is told to stop until the factory has dropped it (see mount_settled).
    gint closing;
} mount;

static void sound_clear(mount *m) {
    if (m->sound_src) gst_object_unref(m->sound_src);
    m->sound_src = NULL;
    m->sound_last = GST_CLOCK_TIME_NONE;
}

struct bb_rtsp_server {
    bb_rtsp_callbacks callbacks;
    GMainContext *context;
    GMainLoop *loop;
    GThread *thread;
    GstRTSPServer *server;
    GSource *source;
    GSource *cleanup;
    mount mounts[MAX_MOUNTS];
    int count;
    gint clients;
    gint refused;
};

int bb_rtsp_init(char *error, size_t error_size) {
    char *failed = NULL;
    if (bb_gst_init(&failed) != 0) {
        snprintf(error, error_size, "%s", failed ? failed : "GStreamer did not start");
        free(failed);
        return -1;
    }
    const char *needed[] = {"appsrc", "rtph264pay", "rtpmp4gpay", "rtpbin", "udpsrc", "udpsink"};
    for (size_t i = 0; i < sizeof needed / sizeof *needed; i++) {
        GstElementFactory *factory = gst_element_factory_find(needed[i]);
        if (!factory) {
            snprintf(error, error_size,
                     "GStreamer element '%s' is missing; install gstreamer1.0-plugins-base and gstreamer1.0-plugins-good", needed[i]);
            return -1;
        }
        gst_object_unref(factory);
    }
    return 0;
}

bb_rtsp_server *bb_rtsp_server_new(const char *address, int port, bb_rtsp_callbacks callbacks) {
    bb_rtsp_server *self = g_new0(bb_rtsp_server, 1);
    self->callbacks = callbacks;
    self->context = g_main_context_new();
    self->loop = g_main_loop_new(self->context, FALSE);
    self->server = gst_rtsp_server_new();
    gchar *service = g_strdup_printf("%d", port);
    gst_rtsp_server_set_address(self->server, address);
    gst_rtsp_server_set_service(self->server, service);
    g_free(service);
    // Each client on a thread of a small pool: a slow password check or a stalled client does not hold the others.
    GstRTSPThreadPool *pool = gst_rtsp_server_get_thread_pool(self->server);
    gst_rtsp_thread_pool_set_max_threads(pool, 4);
    g_object_unref(pool);
    return self;
}

static void media_unprepared(GstRTSPMedia *media, mount *m) {
    int released = 0;
    g_mutex_lock(&m->lock);
    if (m->media == media) {
        m->media = NULL;
        feed_clear(&m->feed);
        sound_clear(m);
        released = 1;
    }
    g_mutex_unlock(&m->lock);
    if (released && m->owner->callbacks.demand) m->owner->callbacks.demand(m->owner->callbacks.context, m->index, 0);
}

/// RTCP sender reports every second instead of every five: a client lines the picture and the sound up (and re-times
/// its streams once) at the first report, which then comes within about a second of the start.
static void media_prepared(GstRTSPMedia *media, gpointer data) {
    (void)data;
    for (guint i = 0; i < gst_rtsp_media_n_streams(media); i++) {
        GObject *session = gst_rtsp_stream_get_rtpsession(gst_rtsp_media_get_stream(media, i));
        if (!session) continue;
        g_object_set(session, "rtcp-min-interval", (guint64)GST_SECOND, NULL);
        g_object_unref(session);
    }
}

/// The shared media is being stopped (its last client left): until it is gone from the factory's cache, a new client
/// would be given it and refused with 503 ("can not reuse media"), so new clients wait for it (mount_settled).
static void media_target_state(GstRTSPMedia *media, GstState state, mount *m) {
    (void)media;
    if (state == GST_STATE_NULL) g_atomic_int_set(&m->closing, 1);
}

/// Connected after the factory's own handler: by now the stopped media is out of its cache (or a new one prepares).
static void media_gone(GstRTSPMedia *media, mount *m) {
    (void)media;
    g_atomic_int_set(&m->closing, 0);
}

static void media_configure(GstRTSPMediaFactory *factory, GstRTSPMedia *media, mount *m) {
    (void)factory;
    GstElement *element = gst_rtsp_media_get_element(media);
    GstElement *src = gst_bin_get_by_name_recurse_up(GST_BIN(element), "src");
    GstElement *sound = gst_bin_get_by_name_recurse_up(GST_BIN(element), "asrc");
    gst_object_unref(element);
    int started = 0;
    g_mutex_lock(&m->lock);
    feed_clear(&m->feed);
    m->feed.src = src;
    sound_clear(m);
    m->sound_src = sound;
    started = m->media == NULL;
    m->media = media;
    g_mutex_unlock(&m->lock);
    g_signal_connect(media, "unprepared", G_CALLBACK(media_unprepared), m);
    g_signal_connect(media, "prepared", G_CALLBACK(media_prepared), NULL);
    g_signal_connect(media, "target-state", G_CALLBACK(media_target_state), m);
    g_signal_connect_after(media, "unprepared", G_CALLBACK(media_gone), m);
    // A media that prepares was built after any stopped one left the cache.
    g_signal_connect(media, "prepared", G_CALLBACK(media_gone), m);
    if (started && m->owner->callbacks.demand) m->owner->callbacks.demand(m->owner->callbacks.context, m->index, 1);
}

void bb_rtsp_server_add_mount(bb_rtsp_server *self, const char *path, int index, int sound_rate, int sound_channels,
                              const uint8_t *sound_config, size_t sound_config_size) {
    if (self->count >= MAX_MOUNTS) return;
    mount *m = &self->mounts[self->count++];
    m->owner = self;
    m->index = index;
    m->path = g_strdup(path);
    m->sound_last = GST_CLOCK_TIME_NONE;
    g_mutex_init(&m->lock);
    GstRTSPMediaFactory *factory = gst_rtsp_media_factory_new();
    // Every keyframe carries SPS and PPS in its access unit (the sender puts them there), so a client joining the
    // shared stream decodes from the next keyframe; each access unit goes out as one burst of RTP packets at once.
    // A camera with sound has a second stream: its AAC units as RFC 3640 mpeg4-generic (AAC-hbr), the config in the SDP.
    GString *launch = g_string_new("( " APPSRC " ! rtph264pay name=pay0 pt=96 config-interval=0 aggregate-mode=zero-latency");
    if (sound_rate > 0 && sound_config_size > 0) {
        g_string_append_printf(launch, " appsrc name=asrc is-live=true format=time do-timestamp=false block=false max-bytes=65536 "
                               "caps=\"audio/mpeg,mpegversion=(int)4,stream-format=(string)raw,rate=(int)%d,channels=(int)%d,codec_data=(buffer)",
                               sound_rate, sound_channels);
        for (size_t i = 0; i < sound_config_size; i++) g_string_append_printf(launch, "%02x", sound_config[i]);
        g_string_append(launch, "\" ! rtpmp4gpay name=pay1 pt=97");
    }
    g_string_append(launch, " )");
    gst_rtsp_media_factory_set_launch(factory, launch->str);
    g_string_free(launch, TRUE);
    gst_rtsp_media_factory_set_shared(factory, TRUE);
    gst_rtsp_media_factory_set_protocols(factory, GST_RTSP_LOWER_TRANS_TCP | GST_RTSP_LOWER_TRANS_UDP);
    gst_rtsp_media_factory_add_role(factory, "viewer", GST_RTSP_PERM_MEDIA_FACTORY_ACCESS, G_TYPE_BOOLEAN, TRUE,
                                    GST_RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, G_TYPE_BOOLEAN, TRUE, NULL);
    g_signal_connect(factory, "media-configure", G_CALLBACK(media_configure), m);
    GstRTSPMountPoints *points = gst_rtsp_server_get_mount_points(self->server);
    gst_rtsp_mount_points_add_factory(points, path, factory);
    g_object_unref(points);
}

int bb_rtsp_server_set_auth(bb_rtsp_server *self, int anonymous, const char *realm, const char *user, const char *digest_ha1,
                            char *error, size_t error_size) {
    BbAuth *auth = g_object_new(bb_auth_get_type(), NULL);
    auth->callbacks = self->callbacks;
    gst_rtsp_auth_set_realm(GST_RTSP_AUTH(auth), realm);
    GstRTSPAuthMethod methods = GST_RTSP_AUTH_BASIC;
    if (digest_ha1 && user) {
        // gst-rtsp-server takes a stored HA1 only from an htdigest file: an anonymous memory file, nothing on disk.
        int fd = memfd_create("blackbox-htdigest", MFD_CLOEXEC);
        gchar *line = g_strdup_printf("%s:%s:%s\n", user, realm, digest_ha1);
        int ok = fd >= 0 && write(fd, line, strlen(line)) == (ssize_t)strlen(line);
        g_free(line);
        gchar *path = g_strdup_printf("/proc/self/fd/%d", fd);
        ok = ok && gst_rtsp_auth_parse_htdigest(GST_RTSP_AUTH(auth), path, auth->user_token);
        g_free(path);
        if (fd >= 0) close(fd);
        if (!ok) {
            snprintf(error, error_size, "the Digest credentials could not be loaded");
            g_object_unref(auth);
            return -1;
        }
        methods |= GST_RTSP_AUTH_DIGEST;
    }
    gst_rtsp_auth_set_supported_methods(GST_RTSP_AUTH(auth), methods);
    if (anonymous) {
        GstRTSPToken *token = gst_rtsp_token_new(GST_RTSP_TOKEN_MEDIA_FACTORY_ROLE, G_TYPE_STRING, "viewer", NULL);
        gst_rtsp_auth_set_default_token(GST_RTSP_AUTH(auth), token);
        gst_rtsp_token_unref(token);
    }
    gst_rtsp_server_set_auth(self->server, GST_RTSP_AUTH(auth));
    g_object_unref(auth);
    return 0;
}

// ---- clients --------------------------------------------------------------------------------------------------

typedef struct {
    bb_rtsp_server *owner;
    int mount;
    int id;
} playing;

static void client_stopped(GstRTSPClient *client) {
    playing *p = g_object_steal_data(G_OBJECT(client), "bb-playing");
    if (!p) return;
    if (p->owner->callbacks.client_left) p->owner->callbacks.client_left(p->owner->callbacks.context, p->mount, p->id);
    g_free(p);
}

/// The mount a request's path names, or NULL.
static mount *mount_of(bb_rtsp_server *self, GstRTSPContext *ctx) {
    if (!ctx->uri || !ctx->uri->abspath) return NULL;
    for (int i = 0; i < self->count; i++) {
        const char *path = self->mounts[i].path;
        size_t n = strlen(path);
        if (strncmp(ctx->uri->abspath, path, n) == 0 && (ctx->uri->abspath[n] == 0 || ctx->uri->abspath[n] == '/')) return &self->mounts[i];
    }
    return NULL;
}

/// Before a DESCRIBE or SETUP: a shared media being stopped is waited for (a few milliseconds; at most 2 s) so that
/// the factory builds a new one instead of handing out the old one, which GStreamer then refuses to prepare again.
static GstRTSPStatusCode mount_settled(GstRTSPClient *client, GstRTSPContext *ctx, bb_rtsp_server *self) {
    (void)client;
    mount *m = mount_of(self, ctx);
    for (int waited = 0; m && g_atomic_int_get(&m->closing) && waited < 2000; waited++) g_usleep(1000);
    return GST_RTSP_STS_OK;
}

static void on_play(GstRTSPClient *client, GstRTSPContext *ctx, bb_rtsp_server *self) {
    if (g_object_get_data(G_OBJECT(client), "bb-playing")) return;
    mount *m = mount_of(self, ctx);
    if (!m) return;
    playing *p = g_new0(playing, 1);
    p->owner = self;
    p->mount = m->index;
    p->id = self->callbacks.client_joined ? self->callbacks.client_joined(self->callbacks.context, p->mount) : 0;
    g_object_set_data(G_OBJECT(client), "bb-playing", p);
}

static void on_teardown(GstRTSPClient *client, GstRTSPContext *ctx, gpointer data) {
    (void)ctx;
    (void)data;
    client_stopped(client);
}

static void on_closed(GstRTSPClient *client, bb_rtsp_server *self) {
    client_stopped(client);
    if (g_object_steal_data(G_OBJECT(client), "bb-counted")) g_atomic_int_add(&self->clients, -1);
}

static void client_connected(GstRTSPServer *server, GstRTSPClient *client, bb_rtsp_server *self) {
    (void)server;
    if (g_atomic_int_add(&self->clients, 1) >= MAX_CLIENTS) {
        g_atomic_int_add(&self->clients, -1);
        g_atomic_int_inc(&self->refused);
        gst_rtsp_client_close(client);
        return;
    }
    g_object_set_data(G_OBJECT(client), "bb-counted", GINT_TO_POINTER(1));
    g_signal_connect(client, "closed", G_CALLBACK(on_closed), self);
    g_signal_connect(client, "play-request", G_CALLBACK(on_play), self);
    g_signal_connect(client, "teardown-request", G_CALLBACK(on_teardown), NULL);
    g_signal_connect(client, "pre-describe-request", G_CALLBACK(mount_settled), self);
    g_signal_connect(client, "pre-setup-request", G_CALLBACK(mount_settled), self);
}

static gboolean cleanup_sessions(gpointer data) {
    bb_rtsp_server *self = data;
    GstRTSPSessionPool *pool = gst_rtsp_server_get_session_pool(self->server);
    gst_rtsp_session_pool_cleanup(pool);
    g_object_unref(pool);
    return G_SOURCE_CONTINUE;
}

static gpointer run_loop(gpointer data) {
    bb_rtsp_server *self = data;
    g_main_context_push_thread_default(self->context);
    g_main_loop_run(self->loop);
    g_main_context_pop_thread_default(self->context);
    return NULL;
}

int bb_rtsp_server_start(bb_rtsp_server *self, char *error, size_t error_size) {
    g_signal_connect(self->server, "client-connected", G_CALLBACK(client_connected), self);
    GError *err = NULL;
    self->source = gst_rtsp_server_create_source(self->server, NULL, &err);
    if (!self->source) {
        snprintf(error, error_size, "%s", err ? err->message : "cannot listen");
        g_clear_error(&err);
        return -1;
    }
    g_source_attach(self->source, self->context);
    // Sessions whose client vanished without TEARDOWN end after their timeout (60 s without keep-alive).
    self->cleanup = g_timeout_source_new_seconds(2);
    g_source_set_callback(self->cleanup, cleanup_sessions, self, NULL);
    g_source_attach(self->cleanup, self->context);
    self->thread = g_thread_new("rtsp-server", run_loop, self);
    return gst_rtsp_server_get_bound_port(self->server);
}

int bb_rtsp_server_push_sound(bb_rtsp_server *self, int index, const uint8_t *data, size_t size, uint64_t capture_ns) {
    for (int i = 0; i < self->count; i++) {
        mount *m = &self->mounts[i];
        if (m->index != index) continue;
        int result = 0;
        g_mutex_lock(&m->lock);
        GstClock *clock = m->sound_src ? gst_element_get_clock(m->sound_src) : NULL;
        // Before the media plays there is no running time to place a unit on: it is left out (the picture waits for a
        // keyframe anyway). The unit is timed by its capture on the same clock as the pictures, so a player keeps them together.
        if (clock && GST_STATE(m->sound_src) != GST_STATE_PLAYING) {
            gst_object_unref(clock);
            clock = NULL;
        }
        if (clock) {
            GstClockTime pts = running_time(clock, gst_element_get_base_time(m->sound_src), capture_ns);
            gst_object_unref(clock);
            if (GST_CLOCK_TIME_IS_VALID(m->sound_last) && pts <= m->sound_last) {
                result = -1;
            } else if (gst_app_src_get_current_level_bytes(GST_APP_SRC(m->sound_src)) > 65536) {
                result = -1;
            } else {
                GstBuffer *buffer = gst_buffer_new_memdup(data, size);
                GST_BUFFER_PTS(buffer) = GST_BUFFER_DTS(buffer) = pts;
                m->sound_last = pts;
                result = gst_app_src_push_buffer(GST_APP_SRC(m->sound_src), buffer) == GST_FLOW_OK ? 1 : -1;
            }
        }
        g_mutex_unlock(&m->lock);
        return result;
    }
    return 0;
}

int bb_rtsp_server_push(bb_rtsp_server *self, int index, const uint8_t *config, size_t config_size, int width, int height, int fps,
                        const uint8_t *data, size_t size, int keyframe, uint64_t capture_ns) {
    for (int i = 0; i < self->count; i++) {
        mount *m = &self->mounts[i];
        if (m->index != index) continue;
        g_mutex_lock(&m->lock);
        int result = m->feed.src ? feed_push(&m->feed, config, config_size, width, height, fps, data, size, keyframe, capture_ns) : 0;
        g_mutex_unlock(&m->lock);
        return result;
    }
    return 0;
}

int bb_rtsp_server_connections(bb_rtsp_server *self, int *refused) {
    *refused = g_atomic_int_get(&self->refused);
    return g_atomic_int_get(&self->clients);
}

int bb_rtsp_server_sessions(bb_rtsp_server *self) {
    GstRTSPSessionPool *pool = gst_rtsp_server_get_session_pool(self->server);
    int n = (int)gst_rtsp_session_pool_get_n_sessions(pool);
    g_object_unref(pool);
    return n;
}

static GstRTSPFilterResult remove_client(GstRTSPServer *server, GstRTSPClient *client, gpointer data) {
    (void)server;
    (void)client;
    (void)data;
    return GST_RTSP_FILTER_REMOVE;
}

void bb_rtsp_server_free(bb_rtsp_server *self) {
    if (self->thread) {
        gst_rtsp_server_client_filter(self->server, remove_client, NULL);
        g_source_destroy(self->source);
        g_source_unref(self->source);
        g_source_destroy(self->cleanup);
        g_source_unref(self->cleanup);
        g_main_loop_quit(self->loop);
        g_thread_join(self->thread);
    }
    GstRTSPMountPoints *points = gst_rtsp_server_get_mount_points(self->server);
    for (int i = 0; i < self->count; i++) gst_rtsp_mount_points_remove_factory(points, self->mounts[i].path);
    g_object_unref(points);
    g_object_unref(self->server);
    for (int i = 0; i < self->count; i++) {
        g_mutex_lock(&self->mounts[i].lock);
        feed_clear(&self->mounts[i].feed);
        g_mutex_unlock(&self->mounts[i].lock);
        g_mutex_clear(&self->mounts[i].lock);
        g_free(self->mounts[i].path);
    }
    g_main_loop_unref(self->loop);
    g_main_context_unref(self->context);
    g_free(self);
}
