/*
 * version.h: the version of mbxfix, printed by --version, written in
 * summary.json and run.log, and in the man pages ('make install').
 * debian/changelog names the same version.
 */
#ifndef MBXFIX_VERSION_H
#define MBXFIX_VERSION_H

#define MBXFIX_VERSION "0.1.0"

#endif
