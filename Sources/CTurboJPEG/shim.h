// TurboJPEG 2.1 API (Debian 12 ships libjpeg-turbo 2.1.5; the tj3* API is absent).
#include <turbojpeg.h>
