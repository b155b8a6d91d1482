SUMMARY = "On-device reconciliation controller for multi-component updates"
SUMMARY:${PN}-mender = "baton's Update Module and inventory script for the Mender client"
DESCRIPTION = "baton keeps a System of Components at the desired state a Manifest \
               describes, compatible with Mender Orchestrator's Topology, Manifest, \
               configuration, Interface protocol and command line."
# nooelint: oelint.vars.homepageping - the project has no public home yet
HOMEPAGE = "https://example.invalid/baton"
BUGTRACKER = "https://example.invalid/baton/issues"
SECTION = "admin"
LICENSE = "Apache-2.0"
# nooelint: oelint.var.licenseremotefile - the repository has no LICENSE file; Cargo.toml says Apache-2.0
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10"
CVE_PRODUCT = "baton"
# zlib-ng (the gzip inflater, through flate2) is built from source with cmake; on x86-64,
# ISA-L (the faster inflater there, through isal-rs) with autotools and nasm.
DEPENDS = "cmake-native"
DEPENDS:append:x86-64 = " nasm-native autoconf-native automake-native libtool-native"

# Where the source comes from: override in your layer (a bbappend or local.conf) to point at
# your mirror, and pin SRCREV to the revision you ship.
PV = "0.1.0+git"
BATON_GIT_URI ?= "git://example.invalid/baton.git;protocol=https;branch=main"
SRC_URI = "${BATON_GIT_URI};destsuffix=${BP}"
# nooelint: oelint.vars.autorev - a default only; pin SRCREV in your layer
SRCREV ?= "${AUTOREV}"
S = "${UNPACKDIR}/${BP}"

inherit cargo cargo-update-recipe-crates systemd

# The crates.io dependencies of Cargo.lock, as crate:// SRC_URI entries with checksums.
# Generate the file next to this recipe for the revision you build, with
# deploy/yocto/gen-crates-inc (or `bitbake -c update_crates baton`, which must parse this
# recipe before the file exists: hence include, not require).
# nooelint: oelint.file.requireinclude - see above
include ${BPN}-crates.inc

# A workspace: Cargo.lock is at the top, the baton crate in controller/.
CARGO_SRC_DIR = "controller"
CARGO_LOCK_SRC_DIR = "${S}"

do_install:append() {
    ln -sf baton ${D}${bindir}/mender-orchestrator

    install -d ${D}${datadir}/mender-orchestrator/interfaces/v1
    install -m 0755 ${S}/interfaces/directory ${D}${datadir}/mender-orchestrator/interfaces/v1/directory
    install -m 0755 ${S}/interfaces/update-module ${D}${datadir}/mender-orchestrator/interfaces/v1/update-module

    install -d ${D}${sysconfdir}/mender-orchestrator
    install -m 0644 ${S}/deploy/config/mender-orchestrator.conf ${D}${sysconfdir}/mender-orchestrator/mender-orchestrator.conf

    install -d ${D}${systemd_system_unitdir}
    install -m 0644 ${S}/deploy/systemd/baton.service ${D}${systemd_system_unitdir}/baton.service
    install -d ${D}${nonarch_libdir}/tmpfiles.d
    install -m 0644 ${S}/deploy/systemd/baton.tmpfile ${D}${nonarch_libdir}/tmpfiles.d/baton.conf

    install -d ${D}${datadir}/mender/modules/v3
    install -m 0755 ${S}/deploy/mender/mender-orchestrator-manifest ${D}${datadir}/mender/modules/v3/mender-orchestrator-manifest
    install -d ${D}${datadir}/mender/inventory
    install -m 0755 ${S}/deploy/mender/mender-inventory-baton ${D}${datadir}/mender/inventory/mender-inventory-baton
}

# The Mender pieces (Update Module for payload type mender-orchestrator-manifest, inventory
# script) in their own package: an image without a Mender client does not need them.
PACKAGES =+ "${PN}-mender"

FILES:${PN} += "${datadir}/mender-orchestrator ${nonarch_libdir}/tmpfiles.d"
FILES:${PN}-mender += "${datadir}/mender"
CONFFILES:${PN} = "${sysconfdir}/mender-orchestrator/mender-orchestrator.conf"

# The directory Interface uses GNU mv -T and sync FILE; update-module uses sync FILE and awk
# (busybox's will do).
RDEPENDS:${PN} = "coreutils"
RDEPENDS:${PN}-mender = "${PN}"
# Mender's own orchestrator installs /usr/bin/mender-orchestrator; its support package, the
# Update Module and an inventory script for the same System.
RCONFLICTS:${PN} = "mender-orchestrator-core"
RCONFLICTS:${PN}-mender = "mender-orchestrator-support"

SYSTEMD_SERVICE:${PN} = "baton.service"
SYSTEMD_AUTO_ENABLE:${PN} = "enable"
