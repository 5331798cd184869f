// A small C face over GStreamer's RTSP server (gst-rtsp-server), fed with H.264 access units from the daemon's
// encoder. No GStreamer type crosses into Swift.
#ifndef BLACKBOX_RTSP_GLUE_H
#define BLACKBOX_RTSP_GLUE_H

#include <stddef.h>
#include <stdint.h>

typedef struct bb_rtsp_server bb_rtsp_server;

/// Callbacks into the daemon, called on GStreamer's threads.
typedef struct {
    void *context;
    /// A mount's media was prepared (1: a first client asked for it) or released (0: the last one left).
    void (*demand)(void *context, int mount, int active);
    /// A client started playing a mount; returns an id for `client_left`.
    int (*client_joined)(void *context, int mount);
    /// That client stopped (TEARDOWN or its connection closed).
    void (*client_left)(void *context, int mount, int id);
    /// Basic authentication: 1 when user and password are right (may be slow: bcrypt).
    int (*check_password)(void *context, const char *user, const char *password);
    /// 1 when the client at `address` failed too often lately and must not be checked now.
    int (*throttled)(void *context, const char *address);
    /// The outcome of a request's credentials from `address` (1 accepted, 0 refused).
    void (*authenticated)(void *context, const char *address, int ok);
} bb_rtsp_callbacks;

/// Initialises GStreamer once; returns 0, or -1 with a message in `error` (e.g. a missing plugin).
int bb_rtsp_init(char *error, size_t error_size);

/// A server for `address`:`port` (port 0: any free one); access rules set with `bb_rtsp_server_set_auth`.
bb_rtsp_server *bb_rtsp_server_new(const char *address, int port, bb_rtsp_callbacks callbacks);

/// Adds a mount (`/front`) with index `mount`, fed by `bb_rtsp_server_push`; with `sound_rate` > 0, a second stream of
/// AAC (AudioSpecificConfig `sound_config`) fed by `bb_rtsp_server_push_sound`.
void bb_rtsp_server_add_mount(bb_rtsp_server *server, const char *path, int mount, int sound_rate, int sound_channels,
                              const uint8_t *sound_config, size_t sound_config_size);

/// Offers one AAC unit captured at `capture_ns` (CLOCK_MONOTONIC) to a mount's sound stream: 1 sent on, 0 no client, -1 dropped.
int bb_rtsp_server_push_sound(bb_rtsp_server *server, int mount, const uint8_t *data, size_t size, uint64_t capture_ns);

/// Who may watch: anyone (`anonymous`), else `user` with its password (Basic, checked by the callback) or,
/// when `digest_ha1` is given (MD5 of user:realm:password), Digest too.
int bb_rtsp_server_set_auth(bb_rtsp_server *server, int anonymous, const char *realm, const char *user, const char *digest_ha1,
                            char *error, size_t error_size);

/// Binds and starts serving on a thread of its own; returns the bound port, or -1 with a message in `error`.
int bb_rtsp_server_start(bb_rtsp_server *server, char *error, size_t error_size);

/// Offers one access unit (length-prefixed NAL units) to a mount: 1 sent on, 0 no client, -1 dropped (clients behind).
/// `config` is the AVCDecoderConfigurationRecord of its stream; `capture_ns` its capture time (CLOCK_MONOTONIC).
int bb_rtsp_server_push(bb_rtsp_server *server, int mount, const uint8_t *config, size_t config_size, int width, int height, int fps,
                        const uint8_t *data, size_t size, int keyframe, uint64_t capture_ns);

/// RTSP connections open now; `refused` is set to the connections closed at once because there were too many.
int bb_rtsp_server_connections(bb_rtsp_server *server, int *refused);

/// RTSP sessions open now.
int bb_rtsp_server_sessions(bb_rtsp_server *server);

/// Closes every client, stops the thread and frees the server.
void bb_rtsp_server_free(bb_rtsp_server *server);

#endif
