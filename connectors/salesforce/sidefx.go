package salesforce

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/connectors/internal/crmhttp"
)

// Tasks and notes exactly once.
//
// Tasks: Task supports custom fields and the upsert() call
// (https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_task.htm,
// "Supported Calls"; the table "Objects That Support Custom Fields" in
// https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/custom_fields.htm),
// and upsert matches on an External ID field
// (https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_upsert.htm:
// "available for objects if the object has an external ID field"). The
// metadata package adds Regsync_Key__c (Text 255, External ID) to
// Activity, whose custom fields Task and Event share, and a keyed task is
// upserted on it with sObject Collections (PATCH
// /composite/sobjects/Task/Regsync_Key__c, allOrNone false, 200 a call:
// https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-sobjects-collections-upsert.html):
// the same key twice is the same task. The field is not marked unique:
// upsert needs only the External ID, and whether an activity field may be
// unique could not be confirmed in the documentation. A retry (not Fresh)
// first reads the registration's tasks (WhatId, a lookup, is indexed) and
// upserts only those whose key is not found, so it never rewrites a task
// an AE has changed since (an upsert of an existing task updates it). An
// org without the field (the package not deployed again) gets the key on
// the task's description instead; the retry's read finds it there too,
// also when the field was deployed in between.
//
// Notes: FeedItem (a Chatter post) and the classic Note take no custom
// fields (they are not in that table), so the key travels on the body's
// last line (connectors.MarkKey); a retry reads the registration's posts
// or notes, as every note did before, and posts only those whose key is
// not found. A first attempt reads nothing.

// FieldTaskKey is the Activity custom field holding a task's key.
const FieldTaskKey = "Regsync_Key__c"

// taskKeyField is FieldTaskKey when Task has it as a writable External
// ID, "" when it has not (one describe per process, cached). An error
// means describe failed and the answer is unknown: a task keyed one way
// now and looked for the other way later could be opened twice.
func (c *Client) taskKeyField(ctx context.Context) (string, error) {
	oi := c.objectFields(ctx, "Task")
	if oi == nil {
		return "", &connectors.Error{Op: "task", Reason: "server_error", Retry: true, After: time.Minute,
			Err: errors.New("Task could not be described: whether it has " + FieldTaskKey + " is unknown")}
	}
	f := oi.field(FieldTaskKey)
	if f == nil || !f.ExternalID || !f.Createable || !f.Updateable {
		c.log.Debug("salesforce: Task." + FieldTaskKey + " is missing: task keys go on the description (deploy the metadata package)")
		return "", nil
	}
	return f.Name, nil
}

// keyedTasks opens tasks that carry a Key, once per key; recs are their
// records (built by taskRecord), parallel to tasks. It returns the
// registration ids and errors of the records it sent, parallel.
func (c *Client) keyedTasks(ctx context.Context, tasks []connectors.Task, recs []sfRecord) ([]string, []error) {
	fail := func(err error) ([]string, []error) {
		ids := make([]string, len(tasks))
		errs := make([]error, len(tasks))
		for i, t := range tasks {
			ids[i], errs[i] = t.RegistrationID, err
		}
		return ids, errs
	}
	field, err := c.taskKeyField(ctx)
	if err != nil {
		return fail(err)
	}
	var look []string // registrations whose tasks to read
	for i, t := range tasks {
		if field != "" {
			recs[i][field] = connectors.StoredKey(t.Key)
		} else {
			recs[i]["Description"] = connectors.MarkKey(crmhttp.Clip(str(recs[i]["Description"]), 32000-len(connectors.KeyLine(t.Key))-3), t.Key)
		}
		if !t.Fresh {
			look = append(look, t.RegistrationID)
		}
	}
	found := map[string]bool{} // lower-cased "registration id/stored key"
	mark := func(reg, key string) { found[strings.ToLower(fullID(reg)+"/"+key)] = true }
	if len(look) > 0 {
		fields := "WhatId, Description"
		if field != "" {
			fields += ", " + field
		}
		soqls, err := c.inQueries("SELECT "+fields+" FROM Task WHERE WhatId IN ", dedupe(look), "")
		if err == nil {
			err = c.queries(ctx, "task", soqls, func(_ int, page []map[string]any) error {
				for _, m := range page {
					if k := str(m[field]); field != "" && k != "" {
						mark(str(m["WhatId"]), k)
					}
					for _, k := range connectors.MarkedKeys(str(m["Description"])) {
						mark(str(m["WhatId"]), k)
					}
				}
				return nil
			})
		}
		if err != nil {
			return fail(err)
		}
	}
	var send []sfRecord
	var ids []string
	for i, t := range tasks {
		k := strings.ToLower(fullID(t.RegistrationID) + "/" + connectors.StoredKey(t.Key))
		if found[k] {
			continue // created by an earlier attempt, or earlier in this call
		}
		found[k] = true
		send = append(send, recs[i])
		ids = append(ids, t.RegistrationID)
	}
	if field == "" {
		_, errs := c.batches(ctx, "task", http.MethodPost, "/composite/sobjects", send)
		return ids, errs
	}
	res, errs := c.batches(ctx, "task", http.MethodPatch, "/composite/sobjects/Task/"+field, send)
	for i := range errs {
		for _, e := range res[i].Errors {
			if e.code() == "DUPLICATE_EXTERNAL_ID" {
				errs[i] = nil // more than one task has the key already: nothing to open
			}
		}
	}
	return ids, errs
}

func dedupe(ss []string) []string {
	seen := make(map[string]bool, len(ss))
	out := ss[:0:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
