// libcamerasrc 0.0.3 (Debian 12) frees its last buffers after its CameraManager: when a camera is pulled out while
// streamed, the requests still queued are freed with the element, after the manager, and releasing the camera then
// posts to the manager's thread, which is gone (SIGSEGV; libcamera bug 211, fixed upstream in 0.3 by the allocator
// holding the manager). The plugin shares one manager through gst_libcamera_get_camera_manager(); holding one reference
// to it for the process keeps it alive under every teardown. The plugin's own C++ getter is looked up by its mangled
// name, so the daemon still never links libcamera (whose ABI changes with every 0.x) and only std::shared_ptr's layout
// is relied on; a plugin without the symbol is left as it is.
#include "libcamera_hold.h"

#include <dlfcn.h>
#include <stdlib.h>

#include <memory>
#include <mutex>

namespace libcamera {
class CameraManager;
}

namespace {
using Manager = std::shared_ptr<libcamera::CameraManager>;
using Getter = Manager (*)(int &);

std::mutex guard;
Manager *held = nullptr;
bool tried = false;
int pipelines = 0;

void release() {
    std::lock_guard<std::mutex> lock(guard);
    if (pipelines > 0) return;  // a camera still streams: leave the manager to the process's end
    delete held;  // stops the manager's thread before libcamera's own statics go
    held = nullptr;
}
}  // namespace

extern "C" int bb_libcamera_hold(const char *plugin_path) {
    std::lock_guard<std::mutex> lock(guard);
    if (tried) return held != nullptr;
    tried = true;
    void *plugin = dlopen(plugin_path, RTLD_LAZY | RTLD_NOLOAD);
    if (!plugin) return 0;
    auto get = reinterpret_cast<Getter>(dlsym(plugin, "_Z32gst_libcamera_get_camera_managerRi"));
    if (get) {
        int ret = 0;
        Manager manager = get(ret);
        if (ret == 0 && manager) {
            held = new Manager(std::move(manager));
            atexit(release);
        }
    }
    dlclose(plugin);  // the NOLOAD handle's own reference; GStreamer keeps the plugin loaded
    return held != nullptr;
}

extern "C" void bb_libcamera_pipelines(int delta) {
    std::lock_guard<std::mutex> lock(guard);
    pipelines += delta;
}
