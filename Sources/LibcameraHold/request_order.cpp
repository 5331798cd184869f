// libcamerasrc 0.0.3 (Debian 12) queues a request to the camera before it records it in its own list
// (GstLibcameraSrcState::queueRequest: cam_->queueRequest(), then lock, push): a completion on libcamera's thread that
// comes in between pops an empty list (SIGSEGV in GstLibcameraSrcState::requestCompleted) or the wrong request, which it
// then frees while the camera still fills it (SIGSEGV later in the pipeline handler's bufferReady). A request completes
// that soon when the camera has no other request queued, which is the element's usual state, so every stall of its
// streaming thread there was a chance of a crash (seen in the CI VM about once in twenty starts).
//
// The element calls both functions through its PLT, and the executable comes first in the dynamic linker's lookup, so
// the daemon defines them itself (exported by Package.swift's linker flags) and keeps the order right: inside the
// element's queueRequest() the camera's queueRequest is only noted, and made once the element has recorded the request.
// Anyone else's call goes straight through. The real functions are looked up in the caller's own scope (the plugin and
// the libcamera it links), never the daemon's, which does not link libcamera. With a plugin that has no such
// queueRequest() (a newer element) nothing is deferred.
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>

#include <atomic>

// The two functions' mangled names, written once: the definitions below take them as their symbol names, and the real
// ones are looked up by them.
#define CAMERA_QUEUE_REQUEST "_ZN9libcamera6Camera12queueRequestEPNS_7RequestE"
#define ELEMENT_QUEUE_REQUEST "_ZN20GstLibcameraSrcState12queueRequestEv"

namespace {
using CameraQueue = int (*)(void *camera, void *request);
using ElementQueue = int (*)(void *state);

std::atomic<void *> realCameraQueue{nullptr};
std::atomic<void *> realElementQueue{nullptr};

// Set on the element's streaming thread while its queueRequest() runs; the request it queued, held back till it returns.
thread_local bool deferring = false;
thread_local void *deferredCamera = nullptr;
thread_local void *deferredRequest = nullptr;

/// The definition of `name` that the object at `caller` would bind without the daemon's: looked up in that object's
/// own scope (itself and what it links). Cached in `slot`; nullptr when there is none or it is `self`.
void *real(std::atomic<void *> &slot, const char *name, const void *caller, const void *self) {
    void *found = slot.load(std::memory_order_acquire);
    if (found) return found;
    Dl_info info;
    if (!dladdr(caller, &info) || !info.dli_fname) return nullptr;
    void *object = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
    if (!object) return nullptr;
    found = dlsym(object, name);
    dlclose(object);  // the NOLOAD handle's own reference: the object stays loaded
    if (!found || found == self) {
        static std::atomic<bool> said{false};
        if (!said.exchange(true)) fprintf(stderr, "blackbox: %s not found for %s\n", name, info.dli_fname);
        return nullptr;
    }
    slot.store(found, std::memory_order_release);
    return found;
}
}  // namespace

/// libcamera::Camera::queueRequest(libcamera::Request *): the member function's ABI is a C function of (this, request).
extern "C" int bb_camera_queue_request(void *camera, void *request) __asm__(CAMERA_QUEUE_REQUEST);
/// GstLibcameraSrcState::queueRequest(): a C function of (this).
extern "C" int bb_element_queue_request(void *state) __asm__(ELEMENT_QUEUE_REQUEST);

extern "C" int bb_camera_queue_request(void *camera, void *request) {
    auto queue = reinterpret_cast<CameraQueue>(real(realCameraQueue, CAMERA_QUEUE_REQUEST,
                                                    __builtin_return_address(0), reinterpret_cast<void *>(&bb_camera_queue_request)));
    if (!queue) return -ENOSYS;
    if (deferring && !deferredRequest) {
        deferredCamera = camera;
        deferredRequest = request;
        return 0;  // what the real call returns for a request queued; the element ignores it anyway
    }
    return queue(camera, request);
}

extern "C" int bb_element_queue_request(void *state) {
    auto queue = reinterpret_cast<ElementQueue>(real(realElementQueue, ELEMENT_QUEUE_REQUEST,
                                                     __builtin_return_address(0), reinterpret_cast<void *>(&bb_element_queue_request)));
    if (!queue) return -ENOSYS;
    deferring = true;
    int ret = queue(state);
    deferring = false;
    if (deferredRequest) {
        void *camera = deferredCamera, *request = deferredRequest;
        deferredCamera = deferredRequest = nullptr;
        auto cameraQueue = reinterpret_cast<CameraQueue>(realCameraQueue.load(std::memory_order_acquire));
        if (cameraQueue) cameraQueue(camera, request);
    }
    return ret;
}
