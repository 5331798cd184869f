// Keeps libcamera's CameraManager alive for the whole process (see libcamera_hold.cpp for why).
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

/// Takes a lasting reference on the CameraManager of the loaded libcamera GStreamer plugin at `plugin_path` (once per
/// process; later calls do nothing). Returns 1 when held, 0 when the plugin does not export its getter (then nothing
/// changes). Released at exit unless a camera pipeline is still open then.
int bb_libcamera_hold(const char *plugin_path);

/// Counts camera pipelines opened (+1) and closed (-1), so that the exit never takes the manager from under one.
void bb_libcamera_pipelines(int delta);

#ifdef __cplusplus
}
#endif
