/* 8250 UART at 0x3f8: the registers Linux's early console, its probe and the guest kit use. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include "console.h"
#include "log.h"
#include "serial8250.h"
#include "util.h"
#include "vm.h"

#define UART_RX	 0 /* DLAB=0 read: receive buffer */
#define UART_TX	 0 /* DLAB=0 write: transmit holding */
#define UART_DLL 0 /* DLAB=1: divisor latch low */
#define UART_IER 1 /* DLAB=0 */
#define UART_DLM 1 /* DLAB=1: divisor latch high */
#define UART_IIR 2 /* read */
#define UART_FCR 2 /* write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define UART_LCR_DLAB	0x80
#define UART_IER_THRI	0x02
#define UART_IER_MASK	0x0f /* the four interrupt enables; the rest reads as 0 */
#define UART_IIR_NO_INT 0x01
#define UART_IIR_THRI	0x02
#define UART_IIR_FIFO	0xc0
#define UART_FCR_ENABLE 0x01
#define UART_LSR_THRE	0x20
#define UART_LSR_TEMT	0x40
#define UART_MCR_DTR	0x01
#define UART_MCR_RTS	0x02
#define UART_MCR_OUT1	0x04
#define UART_MCR_OUT2	0x08
#define UART_MCR_LOOP	0x10
#define UART_MCR_MASK	0x1f
#define UART_MSR_CTS	0x10
#define UART_MSR_DSR	0x20
#define UART_MSR_RI	0x40
#define UART_MSR_DCD	0x80

struct serial8250 {
	pthread_mutex_t lock;
	struct vm *vm;
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	bool thri_pending; /* "transmitter empty" interrupt raised, not yet read from IIR */
};

/* ISA IRQs are edge-triggered at the IOAPIC: a pulse delivers one interrupt. */
static void raise_irq(struct serial8250 *s)
{
	struct kvm_irq_level l = {.irq = SERIAL8250_IRQ, .level = 1};

	if (ioctl(s->vm->vm_fd, KVM_IRQ_LINE, &l) == 0) {
		l.level = 0;
		ioctl(s->vm->vm_fd, KVM_IRQ_LINE, &l);
	}
}

/* Output is immediate, so the transmitter is always empty again. */
static void tx_empty(struct serial8250 *s)
{
	if (s->ier & UART_IER_THRI) {
		s->thri_pending = true;
		raise_irq(s);
	}
}

static uint8_t read_msr(const struct serial8250 *s)
{
	/* In loopback the modem outputs feed the inputs (Linux's probe checks this). */
	if (s->mcr & UART_MCR_LOOP)
		return (s->mcr & UART_MCR_RTS ? UART_MSR_CTS : 0) |
		       (s->mcr & UART_MCR_DTR ? UART_MSR_DSR : 0) |
		       (s->mcr & UART_MCR_OUT1 ? UART_MSR_RI : 0) |
		       (s->mcr & UART_MCR_OUT2 ? UART_MSR_DCD : 0);
	return UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
}

static void serial_read(struct vcpu *vcpu, void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct serial8250 *s = opaque;
	bool dlab;
	uint8_t v = 0;

	pthread_mutex_lock(&s->lock);
	dlab = s->lcr & UART_LCR_DLAB;
	switch (offset) {
	case UART_RX:
		v = dlab ? s->dll : 0; /* no input */
		break;
	case UART_IER:
		v = dlab ? s->dlm : s->ier;
		break;
	case UART_IIR:
		v = (s->fcr & UART_FCR_ENABLE ? UART_IIR_FIFO : 0) |
		    (s->thri_pending ? UART_IIR_THRI : UART_IIR_NO_INT);
		s->thri_pending = false;
		break;
	case UART_LCR:
		v = s->lcr;
		break;
	case UART_MCR:
		v = s->mcr;
		break;
	case UART_LSR:
		v = UART_LSR_THRE | UART_LSR_TEMT;
		break;
	case UART_MSR:
		v = read_msr(s);
		break;
	case UART_SCR:
		v = s->scr;
		break;
	}
	pthread_mutex_unlock(&s->lock);
	memset(data, 0, len);
	*(uint8_t *)data = v;
}

static void serial_write(struct vcpu *vcpu, void *opaque, uint64_t offset, const void *data,
			 uint32_t len)
{
	struct serial8250 *s = opaque;
	uint8_t v = *(const uint8_t *)data;
	bool dlab;

	pthread_mutex_lock(&s->lock);
	dlab = s->lcr & UART_LCR_DLAB;
	switch (offset) {
	case UART_TX:
		if (dlab) {
			s->dll = v;
		} else {
			/* Loopback output goes nowhere, as on hardware. */
			if (!(s->mcr & UART_MCR_LOOP))
				console__putc(s->vm, v);
			tx_empty(s);
		}
		break;
	case UART_IER:
		if (dlab) {
			s->dlm = v;
		} else {
			bool was = s->ier & UART_IER_THRI;

			s->ier = v & UART_IER_MASK;
			if (!was)
				tx_empty(s);
		}
		break;
	case UART_FCR:
		s->fcr = v;
		break;
	case UART_LCR:
		s->lcr = v;
		break;
	case UART_MCR:
		s->mcr = v & UART_MCR_MASK;
		break;
	case UART_SCR:
		s->scr = v;
		break;
	}
	pthread_mutex_unlock(&s->lock);
}

static const struct io_ops serial_ops = {
    .read = serial_read,
    .write = serial_write,
};

int serial8250__init(struct vm *vm)
{
	struct serial8250 *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	s->vm = vm;
	s->dll = 12; /* 9600 baud, the power-on divisor */
	vm->serial = s;
	rc = iobus__register(&vm->pio, SERIAL8250_PORT, 8, &serial_ops, s);
	if (rc)
		serial8250__exit(vm);
	return rc;
}

void serial8250__exit(struct vm *vm)
{
	if (!vm->serial)
		return;
	pthread_mutex_destroy(&vm->serial->lock);
	free(vm->serial);
	vm->serial = NULL;
}

int serial8250__save(struct vm *vm, struct serial8250_state *st)
{
	struct serial8250 *s = vm->serial;

	memset(st, 0, sizeof(*st));
	if (!s)
		return -ENODEV;
	st->version = SERIAL8250_STATE_VERSION;
	pthread_mutex_lock(&s->lock);
	st->ier = s->ier;
	st->lcr = s->lcr;
	st->mcr = s->mcr;
	st->scr = s->scr;
	st->fcr = s->fcr;
	st->dll = s->dll;
	st->dlm = s->dlm;
	st->thri_pending = s->thri_pending;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* Values the guest cannot produce through the registers mean a corrupt or foreign state. */
static int check_state(const struct serial8250_state *st, char *err, size_t errlen)
{
	if (st->version != SERIAL8250_STATE_VERSION) {
		util__set_err(err, errlen,
			      "serial8250 state: version %u, this build knows %u: restore with the "
			      "Twin that saved it",
			      st->version, SERIAL8250_STATE_VERSION);
		return -EINVAL;
	}
	if (st->ier & ~UART_IER_MASK || st->mcr & ~UART_MCR_MASK || st->thri_pending > 1) {
		util__set_err(err, errlen,
			      "serial8250 state corrupt (IER 0x%02x, MCR 0x%02x, thri_pending %u): "
			      "refusing to restore it",
			      st->ier, st->mcr, st->thri_pending);
		return -EINVAL;
	}
	return 0;
}

int serial8250__restore(struct vm *vm, const struct serial8250_state *st, char *err, size_t errlen)
{
	struct serial8250 *s = vm->serial;
	int rc;

	if (!s) {
		util__set_err(err, errlen, "serial8250 state: this VM has no UART");
		return -ENODEV;
	}
	rc = check_state(st, err, errlen);
	if (rc)
		return rc;
	pthread_mutex_lock(&s->lock);
	s->ier = st->ier;
	s->lcr = st->lcr;
	s->mcr = st->mcr;
	s->scr = st->scr;
	s->fcr = st->fcr;
	s->dll = st->dll;
	s->dlm = st->dlm;
	s->thri_pending = st->thri_pending;
	pthread_mutex_unlock(&s->lock);
	log__info("serial8250 state restored");
	return 0;
}
