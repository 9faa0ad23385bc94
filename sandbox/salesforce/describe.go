package salesforce

import (
	"net/http"
	"sort"
)

type picklistEntry struct {
	Value        string `json:"value"`
	Label        string `json:"label"`
	Active       bool   `json:"active"`
	DefaultValue bool   `json:"defaultValue"`
}

type fieldDescribe struct {
	Name               string          `json:"name"`
	Label              string          `json:"label"`
	Type               FieldType       `json:"type"`
	Length             int             `json:"length"`
	Precision          int             `json:"precision"`
	Scale              int             `json:"scale"`
	Custom             bool            `json:"custom"`
	ExternalID         bool            `json:"externalId"`
	Unique             bool            `json:"unique"`
	CaseSensitive      bool            `json:"caseSensitive"`
	IDLookup           bool            `json:"idLookup"`
	Nillable           bool            `json:"nillable"`
	Createable         bool            `json:"createable"`
	Updateable         bool            `json:"updateable"`
	Filterable         bool            `json:"filterable"`
	Sortable           bool            `json:"sortable"`
	Calculated         bool            `json:"calculated"`
	ReferenceTo        []string        `json:"referenceTo"`
	RelationshipName   *string         `json:"relationshipName"`
	PicklistValues     []picklistEntry `json:"picklistValues"`
	RestrictedPicklist bool            `json:"restrictedPicklist"`
	SoapType           string          `json:"soapType"`
}

func soapType(t FieldType) string {
	switch t {
	case TypeID, TypeReference:
		return "tns:ID"
	case TypeBoolean:
		return "xsd:boolean"
	case TypeDouble, TypeCurrency, TypePercent:
		return "xsd:double"
	case TypeInt:
		return "xsd:int"
	case TypeDate:
		return "xsd:date"
	case TypeDateTime:
		return "xsd:dateTime"
	}
	return "xsd:string"
}

func (s *Server) objectInfo(o *object, version string) map[string]any {
	base := "/services/data/" + version + "/sobjects/" + o.name
	return map[string]any{
		"name": o.name, "label": o.label, "labelPlural": o.plural, "keyPrefix": o.prefix, "custom": o.custom,
		"createable": o.name != "Organization", "updateable": o.name != "Organization", "deletable": o.name != "Organization",
		"queryable": true, "searchable": true, "feedEnabled": o.feeds,
		"urls": map[string]string{"sobject": base, "describe": base + "/describe", "rowTemplate": base + "/{ID}"},
	}
}

func (s *Server) describe(o *object, version string) map[string]any {
	d := s.objectInfo(o, version)
	var fields []fieldDescribe
	for _, f := range o.fields {
		if f.Hidden {
			continue
		}
		fd := fieldDescribe{
			Name: f.Name, Label: f.Label, Type: f.Type, Length: f.Length, Precision: f.Precision, Scale: f.Scale,
			Custom: f.Custom, ExternalID: f.ExternalID, Unique: f.Unique, CaseSensitive: f.CaseSensitive,
			IDLookup: f.Name == "Id" || f.ExternalID || f.Unique, Nillable: !f.Required && f.Type != TypeBoolean && f.Name != "Id",
			Createable: f.createable(), Updateable: f.updateable(), Filterable: f.filterable(), Sortable: f.filterable(),
			Calculated: f.Name == "IsClosed" || f.Name == "IsWon", ReferenceTo: f.ReferenceTo, RestrictedPicklist: f.Restricted,
			SoapType: soapType(f.Type), PicklistValues: []picklistEntry{},
		}
		if fd.ReferenceTo == nil {
			fd.ReferenceTo = []string{}
		}
		if f.RelationshipName != "" {
			rn := f.RelationshipName
			fd.RelationshipName = &rn
		}
		for _, p := range f.Picklist {
			fd.PicklistValues = append(fd.PicklistValues, picklistEntry{Value: p, Label: p, Active: true})
		}
		fields = append(fields, fd)
	}
	d["fields"] = fields
	return d
}

func (s *Server) globalDescribe(version string) response {
	var names []string
	for _, o := range s.objects {
		names = append(names, o.name)
	}
	sort.Strings(names)
	var list []map[string]any
	for _, n := range names {
		list = append(list, s.objectInfo(s.objects[lower(n)], version))
	}
	return jsonResponse(http.StatusOK, map[string]any{"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": list})
}
