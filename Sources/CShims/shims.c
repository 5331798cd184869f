#define _GNU_SOURCE
#include <errno.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/timex.h>
#include <fcntl.h>
#include <unistd.h>
#include "cshims.h"

int blackbox_set_thread_name(const char *name) {
    char shortName[16];
    strncpy(shortName, name, sizeof shortName - 1);
    shortName[sizeof shortName - 1] = 0;
    return pthread_setname_np(pthread_self(), shortName);
}

int blackbox_ioctl(int fd, unsigned long request, void *arg) {
    int r;
    do {
        r = ioctl(fd, request, arg);
    } while (r == -1 && errno == EINTR);
    return r;
}

int blackbox_set_child_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

int blackbox_disable_transparent_huge_pages(void) {
    return prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
}

int blackbox_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}

int blackbox_clock_synchronised(void) {
    struct timex tx;
    memset(&tx, 0, sizeof tx);
    int state = adjtimex(&tx);
    return state >= 0 && state != TIME_ERROR && !(tx.status & STA_UNSYNC);
}

int blackbox_gpio_chip_info(int fd, char name[GPIO_MAX_NAME_SIZE], char label[GPIO_MAX_NAME_SIZE], uint32_t *lines) {
    struct gpiochip_info info;
    memset(&info, 0, sizeof info);
    if (blackbox_ioctl(fd, GPIO_GET_CHIPINFO_IOCTL, &info) < 0) return -errno;
    memcpy(name, info.name, GPIO_MAX_NAME_SIZE);
    memcpy(label, info.label, GPIO_MAX_NAME_SIZE);
    name[GPIO_MAX_NAME_SIZE - 1] = label[GPIO_MAX_NAME_SIZE - 1] = 0;
    *lines = info.lines;
    return 0;
}

int blackbox_gpio_line_info(int fd, uint32_t offset, char name[GPIO_MAX_NAME_SIZE], int *used) {
    struct gpio_v2_line_info info;
    memset(&info, 0, sizeof info);
    info.offset = offset;
    if (blackbox_ioctl(fd, GPIO_V2_GET_LINEINFO_IOCTL, &info) < 0) return -errno;
    memcpy(name, info.name, GPIO_MAX_NAME_SIZE);
    name[GPIO_MAX_NAME_SIZE - 1] = 0;
    *used = (info.flags & GPIO_V2_LINE_FLAG_USED) != 0;
    return 0;
}

int blackbox_gpio_request_input(int chipfd, uint32_t offset, int activeLow, int bias, int edges, const char *consumer) {
    struct gpio_v2_line_request req;
    memset(&req, 0, sizeof req);
    req.offsets[0] = offset;
    req.num_lines = 1;
    strncpy(req.consumer, consumer, GPIO_MAX_NAME_SIZE - 1);
    uint64_t flags = GPIO_V2_LINE_FLAG_INPUT;
    if (activeLow) flags |= GPIO_V2_LINE_FLAG_ACTIVE_LOW;
    if (bias == 1) flags |= GPIO_V2_LINE_FLAG_BIAS_PULL_UP;
    if (bias == 2) flags |= GPIO_V2_LINE_FLAG_BIAS_PULL_DOWN;
    if (bias == 3) flags |= GPIO_V2_LINE_FLAG_BIAS_DISABLED;
    if (edges) flags |= GPIO_V2_LINE_FLAG_EDGE_RISING | GPIO_V2_LINE_FLAG_EDGE_FALLING;
    req.config.flags = flags;
    req.event_buffer_size = edges ? 64 : 0;
    if (blackbox_ioctl(chipfd, GPIO_V2_GET_LINE_IOCTL, &req) < 0) return -errno;
    int fl = fcntl(req.fd, F_GETFL);
    if (fl >= 0) fcntl(req.fd, F_SETFL, fl | O_NONBLOCK);
    fcntl(req.fd, F_SETFD, FD_CLOEXEC);
    return req.fd;
}

int blackbox_gpio_get_value(int linefd) {
    struct gpio_v2_line_values values;
    memset(&values, 0, sizeof values);
    values.mask = 1;
    if (blackbox_ioctl(linefd, GPIO_V2_LINE_GET_VALUES_IOCTL, &values) < 0) return -errno;
    return (int)(values.bits & 1);
}

int blackbox_gpio_read_event(int linefd, uint64_t *nanos) {
    struct gpio_v2_line_event event;
    ssize_t n;
    do {
        n = read(linefd, &event, sizeof event);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return errno == EAGAIN ? 0 : -errno;
    if (n != sizeof event) return -EIO;
    *nanos = event.timestamp_ns;
    return (int)event.id;
}

struct readonly_walk {
    void (*fn)(uintptr_t, uintptr_t, void *);
    void *ctx;
    uintptr_t page;
};

static int has_text_relocations(struct dl_phdr_info *info) {
    for (int i = 0; i < info->dlpi_phnum; i++) {
        if (info->dlpi_phdr[i].p_type != PT_DYNAMIC) continue;
        for (const ElfW(Dyn) *d = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr); d->d_tag != DT_NULL; d++) {
            if (d->d_tag == DT_TEXTREL || (d->d_tag == DT_FLAGS && (d->d_un.d_val & DF_TEXTREL))) return 1;
        }
    }
    return 0;
}

static int readonly_segments_of(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    struct readonly_walk *walk = data;
    if (has_text_relocations(info)) return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *p = &info->dlpi_phdr[i];
        if (p->p_type != PT_LOAD || (p->p_flags & PF_W) || p->p_memsz == 0) continue;
        uintptr_t start = (info->dlpi_addr + p->p_vaddr) & ~(walk->page - 1);
        uintptr_t end = (info->dlpi_addr + p->p_vaddr + p->p_memsz + walk->page - 1) & ~(walk->page - 1);
        walk->fn(start, end, walk->ctx);
    }
    return 0;
}

void blackbox_each_readonly_segment(void (*fn)(uintptr_t start, uintptr_t end, void *ctx), void *ctx) {
    struct readonly_walk walk = { fn, ctx, (uintptr_t)sysconf(_SC_PAGESIZE) };
    dl_iterate_phdr(readonly_segments_of, &walk);
}

int blackbox_open_direct(const char *path) {
    return open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);
}
