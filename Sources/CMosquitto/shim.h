// libmosquitto, Debian's MQTT client library (libmosquitto-dev).
#include <stdbool.h>
#include <mosquitto.h>
