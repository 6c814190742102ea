/* Negative-errno results for the net code: <errno.h> when hosted, Linux's values in the guest. */
#ifndef GUESTS_NET_ERRNOS_H
#define GUESTS_NET_ERRNOS_H

#if __STDC_HOSTED__
#include <errno.h>
#else
/* The freestanding guest has no <errno.h>; these are the Linux numbers. */
#define ENOENT	    2
#define EINVAL	    22
#define ENOSPC	    28
#define EMSGSIZE    90
#define EADDRINUSE  98
#define ENETUNREACH 101
#endif

#endif
