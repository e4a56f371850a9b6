// The claims of a client certificate the listener verified (provider type client_certificate):
// the SPIFFE ID when the certificate is an X.509-SVID, else the subject DN, as `sub`; the
// subject's parts, the SANs, the serial and the SHA-256 fingerprint.
#pragma once

#include "filters/identity/source_claims.h"

struct x509_st;

namespace ciap::identity {

// `leaf` is the first certificate of the verified chain. An X.509-SVID must carry exactly one
// spiffe:// URI SAN and must not be a CA; one that breaks either rule is refused.
SourceResult<CallerClaims> CertificateClaims(x509_st* leaf);

}  // namespace ciap::identity
