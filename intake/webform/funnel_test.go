package webform

import (
	"net/http/httptest"
	"testing"

	"github.com/regsync/regsync/registration"
)

// A web form registration's key is what it was: "webform:" and the form's
// nonce id (the hold's key too), and its case number follows.
func TestWebFormSubmissionKeyIsUnchanged(t *testing.T) {
	h, _, _ := newHandler(t, nil)
	reg := &fakeRegistrar{}
	h.o.Registrar = reg
	const id = "00112233445566778899aabbccddeeff"
	if holdKey(id) != "webform:"+id {
		t.Errorf("hold key %q", holdKey(id))
	}
	rec := registration.Record{Source: "webform", CompanyName: "Globex", CompanyDomain: "globex.example", PartnerID: "northwind", PartnerEmail: "sam@northwind.example"}
	rc, err := h.registerRecord(httptest.NewRequest("POST", Path, nil), id, rec)
	if err != nil {
		t.Fatal(err)
	}
	subs := reg.registered()
	if len(subs) != 1 || subs[0].Key != "webform:"+id || subs[0].Record.SubmissionKey != subs[0].Key || subs[0].Channel != "webform" ||
		subs[0].Record.CaseNumber != "R-WFBRHJTTXH" || rc.CaseNumber != "R-WFBRHJTTXH" {
		t.Errorf("submissions %+v receipt %+v", subs, rc)
	}
}
