#include "gst_glue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int bb_gst_init(char **error) {
    GError *err = NULL;
    if (!gst_init_check(NULL, NULL, &err)) {
        *error = bb_gst_format("GStreamer did not start: %s", err ? err->message : "unknown", NULL);
        g_clear_error(&err);
        return -1;
    }
    return 0;
}

char *bb_gst_format(const char *format, const char *a, const char *b) {
    size_t n = strlen(format) + (a ? strlen(a) : 0) + (b ? strlen(b) : 0) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, format, a ? a : "", b ? b : "");
    return s;
}

char *bb_gst_message_text(GstMessage *msg, const char *eos, int detail) {
    if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS) return strdup(eos);
    GError *err = NULL;
    gchar *debug = NULL;
    gst_message_parse_error(msg, &err, &debug);
    const char *last = detail && debug ? strrchr(debug, '\n') : NULL;
    char *text = bb_gst_format("%s%s", err ? err->message : "error", detail ? (last ? last : (debug ? debug : "")) : NULL);
    for (char *p = text; p && *p; p++) if (*p == '\n') *p = ' ';
    g_clear_error(&err);
    g_free(debug);
    return text;
}
