package hubspot

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// FormSubmission is one submission of a HubSpot form.
type FormSubmission struct {
	ConversionID string
	SubmittedAt  time.Time
	PageURL      string
	// Values maps field names (hidden fields included) to values; a field
	// sent several times (checkboxes) has its values joined with ";", as
	// HubSpot stores multi-select values.
	Values map[string]string
}

type formAnswer struct {
	Results []struct {
		ConversionID string `json:"conversionId"`
		SubmittedAt  int64  `json:"submittedAt"`
		PageURL      string `json:"pageUrl"`
		Values       []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"values"`
	} `json:"results"`
	Paging paging `json:"paging"`
}

// FormSubmissions reads one page (up to 50) of a form's submissions with
// GET /form-integrations/v1/submissions/forms/{formGuid}, newest first as
// HubSpot lists them; pass next back as after for the following page ("" at
// the end).
func (c *Client) FormSubmissions(ctx context.Context, formGUID, after string) (subs []FormSubmission, next string, err error) {
	formGUID = strings.TrimSpace(formGUID)
	if formGUID == "" || strings.ContainsAny(formGUID, "/?#") {
		return nil, "", errors.New("hubspot: form submissions: a form GUID is required")
	}
	q := url.Values{"limit": {"50"}}
	if after != "" {
		q.Set("after", after)
	}
	var ans formAnswer
	if err := c.get(ctx, "form submissions", "/form-integrations/v1/submissions/forms/"+url.PathEscape(formGUID), q, &ans); err != nil {
		return nil, "", fmt.Errorf("hubspot: read submissions of form %s: %w", formGUID, err)
	}
	for _, r := range ans.Results {
		s := FormSubmission{ConversionID: r.ConversionID, PageURL: r.PageURL, Values: map[string]string{}}
		if r.SubmittedAt > 0 {
			s.SubmittedAt = time.UnixMilli(r.SubmittedAt).UTC()
		}
		for _, v := range r.Values {
			if old, ok := s.Values[v.Name]; ok && old != "" {
				s.Values[v.Name] = old + ";" + v.Value
			} else {
				s.Values[v.Name] = v.Value
			}
		}
		if s.ConversionID == "" {
			s.ConversionID = "t" + strconv.FormatInt(r.SubmittedAt, 10)
		}
		subs = append(subs, s)
	}
	next = ans.Paging.Next.After
	if next == after {
		next = ""
	}
	return subs, next, nil
}
