/*
 * diagnose.h: what a mailbox's alerts and columns say is wrong, and what to
 * do next (pure).
 *
 * The causes, texts and fixes are those of the support articles
 * docs/fidelity.md cites: a Test & Enable alert (tracelog text,
 * errortypedisplay, errordetails) or a failed write's error code becomes
 * an `error_code` and a `hint` for the results, and, where mbxfix can fix
 * it, the action to put in the row's `actions` column.
 *
 * A 401 alert has one text whatever its cause (six causes, KB 3212785):
 * only what Dataverse shows besides narrows it. A NoUserFoundWithGivenClaims
 * alert says the user was deleted and recreated; an Exchange Server
 * profile (servertype 0 or 2) points at a mailbox that lives in Exchange
 * Online (fixed by set_profile); otherwise the hint lists the causes that
 * remain for the profile's type, most likely first.
 */
#ifndef MBXFIX_DIAGNOSE_H
#define MBXFIX_DIAGNOSE_H

#include <stdbool.h>
#include <stddef.h>

enum diag_kind {
	DIAG_NONE = 0,		   /* nothing wrong found */
	DIAG_PRIVILEGE_DENIED,	   /* KB 4015092: the user's roles lack prvX */
	DIAG_USER_PRIVILEGE_ERROR, /* owner is not the mailbox's user */
	DIAG_UNAUTHORIZED,	   /* 401: the causes that remain, listed */
	DIAG_UNAUTH_ADDRESS,	   /* no user in Exchange with the address */
	DIAG_UNAUTH_HYBRID,	   /* 401 on an Exchange Server profile */
	DIAG_UNAUTH_RECREATED,	   /* 401, NoUserFoundWithGivenClaims */
	DIAG_IMPERSONATION,	   /* profile account cannot impersonate */
	DIAG_NOT_APPROVED,	   /* email address not approved */
	DIAG_NO_PROFILE,	   /* no or inactive email server profile */
	DIAG_DISABLED,		   /* mailbox deactivated or user disabled */
	DIAG_DELIVERY,		   /* delivery methods not Server-Side Sync */
	DIAG_TEST_TIMEOUT,	   /* Test & Enable did not finish in time */
	DIAG_OTHER,		   /* an error alert we have no rule for */
	/* verified in Microsoft Graph (graph.h): the 401's actual cause */
	DIAG_EX_RECREATED, /* UserRecreated: object ids differ */
	DIAG_EX_TENANT,	   /* OtherTenant */
	DIAG_EX_LICENCE,   /* NoExchangeLicence */
	DIAG_EX_ADDRESS,   /* AddressDiffersFromExchange */
	DIAG_EX_HYBRID,	   /* HybridProfileForCloudMailbox */
};

#define DIAG_HINT_MAX 1024
#define DIAG_PRIVS_MAX 256

struct diag {
	enum diag_kind kind;
	const char *code;   /* for error_code; static; "" for DIAG_NONE */
	const char *action; /* the mbxfix action that fixes it, or NULL */
	char privileges[DIAG_PRIVS_MAX]; /* "prvA;prvB" for PrivilegeDenied */
	char hint[DIAG_HINT_MAX];
};

/* One tracelog row; NULL members read as "". */
struct diag_alert {
	int level; /* 1 Information, 2 Warning, 3 Error */
	const char *text;
	const char *errortype; /* errortypedisplay */
	const char *details;   /* errordetails */
};

/* The mailbox columns that matter; -1 where a value was not read. */
struct diag_mailbox {
	int statecode;	     /* 0 Active, 1 Inactive */
	int approval;	     /* emailrouteraccessapproval: 1 Approved */
	int incoming_status; /* 0 Not Run, 1 Success, 2 Failure */
	int outgoing_status;
	int act_status;
	int incoming_method; /* incomingemaildeliverymethod */
	int outgoing_method;
	int act_method;
	int profile_type;    /* the profile's servertype: 0 Exchange Server,
				2 Exchange Server (Hybrid), 3 Exchange
				Online; -1 unknown */
	bool has_profile;    /* _emailserverprofile_value set */
	bool profile_active; /* the profile's statecode is 0 */
	bool owner_is_user;  /* _ownerid_value == _regardingobjectid_value */
	bool is_queue;	     /* regarding object is a queue */
};

/* Every member -1 / false, except has_profile, profile_active and
 * owner_is_user which start true. */
void diagnose_mailbox_init(struct diag_mailbox *m);

/*
 * Classify one alert. Returns its kind (DIAG_NONE for information alerts
 * and texts that report no error) and fills 'out'. A 401 is
 * DIAG_UNAUTHORIZED with every cause in the hint (no profile known).
 */
enum diag_kind diagnose_alert(const struct diag_alert *a, struct diag *out);

/*
 * The diagnosis of a mailbox: its alerts (newest first, may be empty)
 * and columns. The most useful next step wins: alerts that name a cause
 * first (PrivilegeDenied collects every privilege named), then what the
 * columns show (inactive, no profile, not approved, owner, delivery). A
 * 401 is narrowed by m->profile_type (see above). Returns the kind; DIAG_NONE
 * when nothing is wrong.
 */
enum diag_kind diagnose_mailbox(const struct diag_mailbox *m,
				const struct diag_alert *alerts, size_t n,
				struct diag *out);

/*
 * The cause Microsoft Graph verified (graph_cause_code(): "UserRecreated",
 * "OtherTenant", "NoExchangeLicence", "AddressDiffersFromExchange",
 * "HybridProfileForCloudMailbox") replaces 'out' with that cause and its
 * one-sentence hint for the Exchange or Entra admin. Returns false (and
 * leaves 'out' alone) for any other code.
 */
bool diagnose_exchange(const char *code, struct diag *out);

/*
 * Graph found nothing wrong with a mailbox whose alert is a 401: on an
 * Exchange Server profile the cause left is Basic authentication off for
 * EWS, which Graph cannot see; the hint says so. Other diagnoses are left
 * alone.
 */
void diagnose_exchange_clear(struct diag *out, int profile_type);

/*
 * A failed write: Dataverse's error code ("0x8009000B") and message.
 * Fills 'out' with the code as given and a hint for the known codes
 * (approval refused, missing privilege of the caller, not found, depth).
 * 'action' is the mbxfix action that was refused (for the hint), or NULL.
 */
void diagnose_write_error(const char *code, const char *message,
			  const char *action, struct diag *out);

/*
 * The privilege a PrivilegeDenied message names ("is missing prvX
 * privilege"), copied to 'out'. Returns false when there is none.
 */
bool diagnose_missing_privilege(const char *text, char *out, size_t size);

#endif
