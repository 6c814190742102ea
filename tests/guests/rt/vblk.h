/* The guest kit's virtio-blk driver: read, write, flush and get-id, polled, batched. */
#ifndef GUESTS_RT_VBLK_H
#define GUESTS_RT_VBLK_H

#include <stdint.h>

#define VBLK_SECTOR   512u
#define VBLK_T_IN     0
#define VBLK_T_OUT    1
#define VBLK_T_FLUSH  4
#define VBLK_T_GET_ID 8
#define VBLK_S_OK     0
#define VBLK_S_IOERR  1
#define VBLK_S_UNSUPP 2
#define VBLK_ID_BYTES 20

/* Find and start the first virtio-blk device.  0 or -errno (-ENODEV: none). */
int vblk__init(void);
uint64_t vblk__sectors(void);
int vblk__read_only(void);

/*
 * Queue one request (buf/len unused for FLUSH; len a multiple of 512 for IN
 * and OUT, VBLK_ID_BYTES for GET_ID) without notifying.  Returns a tag >= 0,
 * or -ENOSPC when the queue is full: vblk__kick and reap first.
 */
int vblk__submit(int type, uint64_t sector, void *buf, uint32_t len);
/* Publish queued requests; one notification at most, and none if the device is busy anyway. */
void vblk__kick(void);
/* One completed request: its tag and *status (VBLK_S_*), or -1 when none completed yet. */
int vblk__reap(uint8_t *status);
unsigned int vblk__in_flight(void);
/* Kick, then wait until a request completed or none is in flight (at most timeout_us).  0, or
 * -ETIMEDOUT. */
int vblk__wait(uint64_t timeout_us);

/* Synchronous forms, with nothing else in flight: 0, -EIO (IOERR/UNSUPP) or -ETIMEDOUT. */
int vblk__rw(int type, uint64_t sector, void *buf, uint32_t len);
int vblk__flush(void);
int vblk__get_id(char id[VBLK_ID_BYTES]);
/* Notifications paid for so far (every one is a VM exit). */
uint64_t vblk__notifies(void);

#endif
