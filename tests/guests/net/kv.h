/* The kv service: one request datagram in, one reply datagram out (protocol in ../README.md). */
#ifndef GUESTS_NET_KV_H
#define GUESTS_NET_KV_H

#include <stddef.h>
#include <stdint.h>

#define KV_PORT	      7777
#define KV_CLIENT_MAX 32   /* CLIENT token length */
#define KV_KEY_MAX    64   /* KEY token length */
#define KV_KEYS	      4096 /* distinct keys; a new key beyond that is ERR FULL */
#define KV_CLIENTS    2048 /* clients whose last reply is remembered (LRU beyond) */
/* "CLIENT SEQ OK -9223372036854775808": 32 + 1 + 20 + 1 + 2 + 1 + 20 = 77 bytes. */
#define KV_REPLY_MAX 80

/* Internal tables, here so that the guest can place a struct kv statically. */
#define KV_NIL 0xffff /* end of a hash chain */
struct kv_key {
	uint16_t next; /* chain in the hash bucket; KV_NIL ends it */
	uint8_t len;
	char name[KV_KEY_MAX];
	int64_t value;
};
struct kv_client {
	uint16_t next;
	uint8_t len;
	uint8_t reply_len;
	char name[KV_CLIENT_MAX];
	uint64_t seq;  /* last SEQ seen */
	uint64_t used; /* LRU stamp */
	char reply[KV_REPLY_MAX];
};
struct kv {
	uint64_t applied; /* what GET __stats returns */
	uint64_t clock;
	uint32_t nkeys, nclients;
	uint16_t key_bucket[KV_KEYS];
	uint16_t client_bucket[KV_CLIENTS];
	struct kv_key keys[KV_KEYS];
	struct kv_client clients[KV_CLIENTS];
};

/* Empties the store and forgets every client. */
void kv__init(struct kv *kv);

/*
 * Handles one request datagram req[0..len) (any bytes) and writes the reply
 * datagram into reply[0..cap), without a NUL.  Returns the reply's length,
 * or 0 when cap < KV_REPLY_MAX (nothing is applied then).  Every request
 * gets exactly one reply.  Pure: no I/O, no clock, no allocation.
 */
size_t kv__handle(struct kv *kv, const char *req, size_t len, char *reply, size_t cap);

#endif
