#include "zstd.h"
