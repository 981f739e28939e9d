// Package guest is sriovctl's integration suite for the real Linux igb driver. It runs only inside the
// QEMU guest that test/vm/run.sh boots (build tag vmguest, environment SRIOVCTL_VM_GUEST=1).
package guest
