/* fixed.h - desk's fixed point lives in the public header desk/fixed.h. */
#ifndef DESK_FIXED_H
#define DESK_FIXED_H

#include "desk/fixed.h"

#endif /* DESK_FIXED_H */
