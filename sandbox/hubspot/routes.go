package hubspot

import "net/http"

// routes registers every endpoint; the patterns are also the keys of Calls.
// Handlers of one object type's path are wrapped by s.on, onJSON or
// onBatch, which decode the body, lock the portal and resolve
// {objectType} before the handler runs.
func (s *Server) routes() {
	m := http.NewServeMux()
	s.mux = m

	// CRM objects v3.
	m.HandleFunc("GET /crm/v3/objects/{objectType}", s.on(forReading, s.handleList))
	m.HandleFunc("POST /crm/v3/objects/{objectType}", s.handleCreate)
	m.HandleFunc("GET /crm/v3/objects/{objectType}/{objectId}", s.on(forReading, s.handleGet))
	m.HandleFunc("PATCH /crm/v3/objects/{objectType}/{objectId}", onJSON(s, forWriting, s.handlePatch))
	m.HandleFunc("DELETE /crm/v3/objects/{objectType}/{objectId}", s.on(forWriting, s.handleDelete))
	m.HandleFunc("POST /crm/v3/objects/{objectType}/batch/read", s.handleBatchRead)
	m.HandleFunc("POST /crm/v3/objects/{objectType}/batch/create", onBatch(s, forWriting, s.handleBatchCreate))
	m.HandleFunc("POST /crm/v3/objects/{objectType}/batch/update", onBatch(s, forWriting, s.handleBatchUpdate))
	m.HandleFunc("POST /crm/v3/objects/{objectType}/batch/upsert", onBatch(s, forWriting, s.handleBatchUpsert))
	m.HandleFunc("POST /crm/v3/objects/{objectType}/batch/archive", onBatch(s, forWriting, s.handleBatchArchive))
	m.HandleFunc("POST /crm/v3/objects/{objectType}/search", onJSON(s, forReading, s.handleSearch))

	// Custom object schemas, under both prefixes HubSpot serves.
	for _, p := range []string{"/crm-object-schemas/v3/schemas", "/crm/v3/schemas"} {
		m.HandleFunc("GET "+p, s.handleListSchemas)
		m.HandleFunc("POST "+p, s.handleCreateSchema)
		m.HandleFunc("GET "+p+"/{objectType}", s.handleGetSchema)
		m.HandleFunc("PATCH "+p+"/{objectType}", s.handlePatchSchema)
		m.HandleFunc("DELETE "+p+"/{objectType}", s.handleDeleteSchema)
		m.HandleFunc("POST "+p+"/{objectType}/associations", s.handleCreateSchemaAssociation)
	}

	// Properties and property groups.
	m.HandleFunc("GET /crm/v3/properties/{objectType}", s.on(forReading, s.handleListProperties))
	m.HandleFunc("POST /crm/v3/properties/{objectType}", onJSON(s, forWriting, s.handleCreateProperty))
	m.HandleFunc("GET /crm/v3/properties/{objectType}/{propertyName}", s.on(forReading, s.handleGetProperty))
	m.HandleFunc("PATCH /crm/v3/properties/{objectType}/{propertyName}", onJSON(s, forWriting, s.handlePatchProperty))
	m.HandleFunc("DELETE /crm/v3/properties/{objectType}/{propertyName}", s.on(forWriting, s.handleDeleteProperty))
	m.HandleFunc("POST /crm/v3/properties/{objectType}/batch/create", onBatch(s, forWriting, s.handleBatchCreateProperties))
	m.HandleFunc("POST /crm/v3/properties/{objectType}/batch/read", onJSON(s, forReading, s.handleBatchReadProperties))
	m.HandleFunc("POST /crm/v3/properties/{objectType}/batch/archive", onJSON(s, forWriting, s.handleBatchArchiveProperties))
	m.HandleFunc("GET /crm/v3/properties/{objectType}/groups", s.on(forReading, s.handleListGroups))
	m.HandleFunc("POST /crm/v3/properties/{objectType}/groups", onJSON(s, forWriting, s.handleCreateGroup))
	m.HandleFunc("GET /crm/v3/properties/{objectType}/groups/{groupName}", s.on(forReading, s.handleGetGroup))

	// Associations v4.
	m.HandleFunc("PUT /crm/v4/objects/{fromObjectType}/{fromObjectId}/associations/default/{toObjectType}/{toObjectId}", s.handleAssocDefault)
	m.HandleFunc("PUT /crm/v4/objects/{fromObjectType}/{fromObjectId}/associations/{toObjectType}/{toObjectId}", s.handleAssocLabelled)
	m.HandleFunc("DELETE /crm/v4/objects/{fromObjectType}/{fromObjectId}/associations/{toObjectType}/{toObjectId}", s.handleAssocDelete)
	m.HandleFunc("GET /crm/v4/objects/{fromObjectType}/{fromObjectId}/associations/{toObjectType}", s.handleAssocList)
	m.HandleFunc("POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/create", s.handleAssocBatchCreate)
	m.HandleFunc("POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/associate/default", s.handleAssocBatchDefault)
	m.HandleFunc("POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/read", s.handleAssocBatchRead)
	m.HandleFunc("POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/archive", s.handleAssocBatchArchive)
	m.HandleFunc("POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/labels/archive", s.handleAssocBatchLabelsArchive)
	m.HandleFunc("GET /crm/v4/associations/{fromObjectType}/{toObjectType}/labels", s.handleAssocLabels)

	// Owners, forms, account, OAuth.
	m.HandleFunc("GET /crm/v3/owners", s.handleListOwners)
	m.HandleFunc("GET /crm/v3/owners/{$}", s.handleListOwners)
	m.HandleFunc("GET /crm/v3/owners/{ownerId}", s.handleGetOwner)
	m.HandleFunc("GET /form-integrations/v1/submissions/forms/{formGuid}", s.handleFormSubmissions)
	m.HandleFunc("GET /account-info/v3/details", s.handleAccountDetails)
	m.HandleFunc("GET /account-info/v3/api-usage/daily/private-apps", s.handleDailyUsage)
	m.HandleFunc("POST /oauth/v1/token", s.handleToken)
	m.HandleFunc("GET /oauth/v1/access-tokens/{token}", s.handleAccessTokenInfo)
}
