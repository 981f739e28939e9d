// Package packaging holds what turns the build into a Debian package: the nfpm configuration
// (nfpm.yaml), the maintainer scripts (scripts/) and the tests of the systemd units the package ships from
// dist/systemd. It has no code the binary uses; `make package` drives it (see the Makefile).
package packaging
