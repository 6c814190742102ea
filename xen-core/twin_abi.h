/* The guest-visible ABI of twin-vmm, shared by the VMM and the test guests (no libc needed). */
#ifndef TWIN_ABI_H
#define TWIN_ABI_H

/*
 * MMIO debug device.
 *
 * Ring-3 guest code cannot use port I/O under PVM (see LAB.md), so this page
 * is how test guests print, exit and idle.  It sits in the PCI hole, away from
 * the LAPIC (0xfee00000), the IOAPIC (0xfec00000) and QEMU microvm's
 * virtio-mmio window (0xfeb00000).  All registers are 32-bit, little endian.
 */
#define TWIN_DEBUGDEV_GPA 0xfef00000ULL
#define TWIN_DEBUGDEV_SIZE 0x1000ULL

#define TWIN_DEBUGDEV_REG_ID 0x00	  /* R: TWIN_DEBUGDEV_ID */
#define TWIN_DEBUGDEV_REG_VERSION 0x04	  /* R: TWIN_DEBUGDEV_VERSION */
#define TWIN_DEBUGDEV_REG_CONSOLE 0x08	  /* W: low byte goes to the console */
#define TWIN_DEBUGDEV_REG_EXIT 0x0c	  /* W: v; the VMM exits with (v << 1) | 1 */
#define TWIN_DEBUGDEV_REG_WAIT_US 0x10	  /* W: block this vCPU until an event or
					   * this many microseconds pass;
					   * TWIN_WAIT_FOREVER has no deadline */
#define TWIN_DEBUGDEV_REG_EVENTS 0x14	  /* R: TWIN_EVENT_* bits that ended the
					   * last wait or arrived since, cleared
					   * by the read.  A wait consumes the
					   * events that end it; one that arrives
					   * outside a wait ends the next at once */
#define TWIN_DEBUGDEV_REG_VCPU_ID 0x18	  /* R: index of the reading vCPU */
#define TWIN_DEBUGDEV_REG_BUF_ADDR_LO 0x20 /* W: GPA of a console buffer, low 32 */
#define TWIN_DEBUGDEV_REG_BUF_ADDR_HI 0x24 /* W: ... high 32 bits */
#define TWIN_DEBUGDEV_REG_BUF_LEN 0x28	  /* W: print this many bytes from the
					   * buffer in one exit (max 4096) */

#define TWIN_DEBUGDEV_ID 0x6e697754u /* "Twin" as a little-endian u32 */
#define TWIN_DEBUGDEV_VERSION 1u
#define TWIN_DEBUGDEV_BUF_MAX 4096u
#define TWIN_WAIT_FOREVER 0xffffffffu

#define TWIN_EVENT_DEADLINE (1u << 0) /* the wait's deadline passed */
#define TWIN_EVENT_KICK (1u << 1)     /* a device raised an event for this VM */

/*
 * isa-debug-exit, as in QEMU: writing v to the port makes the VMM exit with
 * status (v << 1) | 1.  The MMIO EXIT register uses the same encoding, so a
 * guest's exit status means one thing under twin-vmm and under QEMU.
 */
#define TWIN_DEBUG_EXIT_PORT 0xf4

/* Exit values (v) the test guests use.  Statuses are (v << 1) | 1. */
#define TWIN_GUEST_EXIT_OK 0x00	       /* status 1 */
#define TWIN_GUEST_EXIT_FAIL 0x01      /* status 3: the guest's own check failed */
#define TWIN_GUEST_EXIT_FAULT_BASE 0x60 /* status 193 + 2*vector: CPU exception */

/*
 * PCI.  twin-vmm's ECAM (memory-mapped config space) covers bus 0 at this
 * default address; guests take `ecam=ADDR` from the command line (QEMU puts
 * its ECAM elsewhere) and fall back to this.  twin-vmm assigns every BAR
 * before boot, like firmware; a guest assigns a BAR itself only when it reads
 * back 0.  Config mechanism #1 (ports 0xcf8/0xcfc) reaches the same space.
 */
#define TWIN_PCI_ECAM_DEFAULT 0xe0000000ULL
#define TWIN_PCI_ECAM_SIZE 0x100000ULL

/*
 * CPUID.  Leaf 0x40000000 stays KVM's (so Linux still finds kvmclock); its
 * EAX is raised to cover 0x40000010.  Twin's own signature leaf is at
 * 0x40000100, the next base hypervisor detection scans.
 */
#define TWIN_CPUID_KVM_BASE 0x40000000u
#define TWIN_CPUID_TIMING 0x40000010u /* EAX: TSC kHz, EBX: LAPIC bus kHz */
#define TWIN_CPUID_SIGNATURE 0x40000100u /* EAX: max leaf of this base;
					  * EBX ECX EDX: "TwinTwinTwin" */
#define TWIN_CPUID_SIGNATURE_EBX 0x6e697754u /* "Twin" */

#endif
