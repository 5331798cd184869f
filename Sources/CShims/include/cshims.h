// Small C helpers for what Swift cannot reach directly (GNU-only or variadic calls, and the
// V4L2 ioctl numbers and pixel formats, which are function-like macros Swift does not import).
#ifndef BLACKBOX_CSHIMS_H
#define BLACKBOX_CSHIMS_H

#include <stdint.h>
#include <linux/videodev2.h>
#include <linux/gpio.h>

/// Names the calling thread (pthread_setname_np needs _GNU_SOURCE, which Swift's Glibc omits).
int blackbox_set_thread_name(const char *name);

/// Makes this process the reaper of orphaned descendants (prctl PR_SET_CHILD_SUBREAPER), so that
/// grandchildren of a killed subprocess can be reaped here instead of lingering as zombies.
int blackbox_set_child_subreaper(void);

/// Turns transparent huge pages off for this process and its children (prctl PR_SET_THP_DISABLE); 0 on success.
int blackbox_disable_transparent_huge_pages(void);

/// 1 when the kernel clock is NTP-synchronised (adjtimex: not TIME_ERROR, STA_UNSYNC clear), else 0.
int blackbox_clock_synchronised(void);

/// Calls `fn(start, end, ctx)` for each read-only loaded segment (PT_LOAD without PF_W, page-aligned) of the program and
/// each library loaded now, skipping libraries whose text the loader relocates (DT_TEXTREL), from inside
/// dl_iterate_phdr: a library being loaded at the same moment is not listed until its segments are in place, and none
/// listed is unloaded while `fn` runs.
void blackbox_each_readonly_segment(void (*fn)(uintptr_t start, uintptr_t end, void *ctx), void *ctx);

/// Opens `path` for writing past the page cache (O_DIRECT, which Swift's Glibc omits); -1 and errno on failure.
int blackbox_open_direct(const char *path);

/// pipe2(fds, O_CLOEXEC) (a GNU call Swift's Glibc does not show).
int blackbox_pipe_cloexec(int fds[2]);

/// ioctl(2) with a pointer argument, retried on EINTR. Returns -1 with errno set on failure.
int blackbox_ioctl(int fd, unsigned long request, void *arg);

/// A GPIO chip's name (gpiochipN), label (e.g. pinctrl-rp1) and number of lines (GPIO_GET_CHIPINFO_IOCTL). 0 or -errno.
int blackbox_gpio_chip_info(int fd, char name[GPIO_MAX_NAME_SIZE], char label[GPIO_MAX_NAME_SIZE], uint32_t *lines);

/// Line `offset`'s name ("" when it has none) and whether someone holds it (GPIO_V2_GET_LINEINFO_IOCTL). 0 or -errno.
int blackbox_gpio_line_info(int fd, uint32_t offset, char name[GPIO_MAX_NAME_SIZE], int *used);

/// Requests line `offset` of the chip open at `chipfd` as an input, active-low when asked, with `bias` (0 as is, 1 pull-up,
/// 2 pull-down, 3 disabled), reporting both edges with CLOCK_MONOTONIC times when `edges` (GPIO uAPI v2). The line's fd
/// (close-on-exec), or -errno: a chip that cannot interrupt refuses edges, and the caller reads values instead.
int blackbox_gpio_request_input(int chipfd, uint32_t offset, int activeLow, int bias, int edges, const char *consumer);

/// The line's logical value (1 active, 0 not), or -errno.
int blackbox_gpio_get_value(int linefd);

/// Reads one edge event of the line: 1 (to active) or 2 (to inactive) with its time, CLOCK_MONOTONIC nanoseconds;
/// 0 when none is waiting (the fd is non-blocking), or -errno.
int blackbox_gpio_read_event(int linefd, uint64_t *nanos);

static const unsigned long BB_VIDIOC_QUERYCAP = VIDIOC_QUERYCAP;
static const unsigned long BB_VIDIOC_ENUM_FMT = VIDIOC_ENUM_FMT;
static const unsigned long BB_VIDIOC_ENUM_FRAMESIZES = VIDIOC_ENUM_FRAMESIZES;
static const unsigned long BB_VIDIOC_ENUM_FRAMEINTERVALS = VIDIOC_ENUM_FRAMEINTERVALS;
static const unsigned long BB_VIDIOC_G_FMT = VIDIOC_G_FMT;
static const unsigned long BB_VIDIOC_S_FMT = VIDIOC_S_FMT;
static const unsigned long BB_VIDIOC_S_PARM = VIDIOC_S_PARM;
static const unsigned long BB_VIDIOC_G_PARM = VIDIOC_G_PARM;
static const unsigned long BB_VIDIOC_REQBUFS = VIDIOC_REQBUFS;
static const unsigned long BB_VIDIOC_QUERYBUF = VIDIOC_QUERYBUF;
static const unsigned long BB_VIDIOC_QBUF = VIDIOC_QBUF;
static const unsigned long BB_VIDIOC_DQBUF = VIDIOC_DQBUF;
static const unsigned long BB_VIDIOC_STREAMON = VIDIOC_STREAMON;
static const unsigned long BB_VIDIOC_STREAMOFF = VIDIOC_STREAMOFF;

static const uint32_t BB_PIX_FMT_YUYV = V4L2_PIX_FMT_YUYV;
static const uint32_t BB_PIX_FMT_NV12 = V4L2_PIX_FMT_NV12;
static const uint32_t BB_PIX_FMT_YUV420 = V4L2_PIX_FMT_YUV420;
static const uint32_t BB_PIX_FMT_MJPEG = V4L2_PIX_FMT_MJPEG;
static const uint32_t BB_PIX_FMT_JPEG = V4L2_PIX_FMT_JPEG;
static const uint32_t BB_PIX_FMT_GREY = V4L2_PIX_FMT_GREY;
static const uint32_t BB_PIX_FMT_H264 = V4L2_PIX_FMT_H264;

static const uint32_t BB_BUF_TYPE_VIDEO_CAPTURE = V4L2_BUF_TYPE_VIDEO_CAPTURE;
static const uint32_t BB_MEMORY_MMAP = V4L2_MEMORY_MMAP;
static const uint32_t BB_FIELD_ANY = V4L2_FIELD_ANY;
static const uint32_t BB_CAP_VIDEO_CAPTURE = V4L2_CAP_VIDEO_CAPTURE;
static const uint32_t BB_CAP_STREAMING = V4L2_CAP_STREAMING;
static const uint32_t BB_CAP_DEVICE_CAPS = V4L2_CAP_DEVICE_CAPS;
static const uint32_t BB_BUF_FLAG_ERROR = V4L2_BUF_FLAG_ERROR;
static const uint32_t BB_FRMSIZE_TYPE_DISCRETE = V4L2_FRMSIZE_TYPE_DISCRETE;
static const uint32_t BB_FRMIVAL_TYPE_DISCRETE = V4L2_FRMIVAL_TYPE_DISCRETE;
static const uint32_t BB_CAP_TIMEPERFRAME = V4L2_CAP_TIMEPERFRAME;

#endif
