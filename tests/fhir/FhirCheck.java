// HAPI FHIR's R4 validator and generic client, run for the tests
// (tests/src/fhir.rs) with the jars scripts/setup.sh copies from Maven Central:
//
//   java -cp 'target/engines/fhir/libs/*' tests/fhir/FhirCheck.java validate DIR
//       validates every DIR/*.json against R4 core and the profiles each
//       resource claims (vital signs among them), offline: no terminology
//       server, so LOINC and SNOMED codes are not looked up (a warning), while
//       UCUM units and FHIR's own code systems are checked.
//
//   java -cp … tests/fhir/FhirCheck.java client BASE CA CERT KEY PATIENT CODE COUNT OUTDIR
//       HAPI's generic client against a running FHIR API over mutual TLS:
//       reads the CapabilityStatement and the Patient, searches the patient's
//       Observations of CODE COUNT at a time following every `next` link, and
//       their AuditEvents, MedicationRequests and ServiceRequests; writes each
//       response to OUTDIR, validates it, and prints a JSON summary.
//
// One JVM does many resources: loading the R4 definitions costs seconds.

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.rest.client.api.IGenericClient;
import ca.uhn.fhir.rest.client.apache.ApacheRestfulClientFactory;
import ca.uhn.fhir.rest.client.api.ServerValidationModeEnum;
import ca.uhn.fhir.validation.FhirValidator;
import ca.uhn.fhir.validation.ResultSeverityEnum;
import ca.uhn.fhir.validation.SingleValidationMessage;
import ca.uhn.fhir.validation.ValidationResult;
import ca.uhn.fhir.context.support.DefaultProfileValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.CommonCodeSystemsTerminologyService;
import org.hl7.fhir.common.hapi.validation.support.InMemoryTerminologyServerValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.SnapshotGeneratingValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.ValidationSupportChain;
import org.hl7.fhir.common.hapi.validation.validator.FhirInstanceValidator;
import org.hl7.fhir.r4.model.AuditEvent;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.CapabilityStatement;
import org.hl7.fhir.r4.model.MedicationRequest;
import org.hl7.fhir.r4.model.Observation;
import org.hl7.fhir.r4.model.Patient;
import org.hl7.fhir.r4.model.ServiceRequest;
import org.apache.http.impl.client.HttpClients;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.stream.Stream;

public class FhirCheck {
    static final FhirContext CTX = FhirContext.forR4();

    static FhirValidator validator() {
        ValidationSupportChain chain = new ValidationSupportChain(
                new DefaultProfileValidationSupport(CTX),
                new CommonCodeSystemsTerminologyService(CTX),
                new InMemoryTerminologyServerValidationSupport(CTX),
                new SnapshotGeneratingValidationSupport(CTX));
        FhirInstanceValidator module = new FhirInstanceValidator(chain);
        // Offline: codes of unknown systems (LOINC, SNOMED CT) are warnings, not errors.
        module.setAnyExtensionsAllowed(false);
        return CTX.newValidator().registerValidatorModule(module);
    }

    /** The errors of one resource, each "location: message". */
    static List<String> errors(FhirValidator v, String json) {
        ValidationResult r = v.validateWithResult(json);
        List<String> out = new ArrayList<>();
        for (SingleValidationMessage m : r.getMessages()) {
            if (m.getSeverity() == ResultSeverityEnum.ERROR || m.getSeverity() == ResultSeverityEnum.FATAL) {
                out.add(m.getLocationString() + ": " + m.getMessage());
            }
        }
        return out;
    }

    static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                default:
                    if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
                    else b.append(c);
            }
        }
        return b.append('"').toString();
    }

    static String list(List<String> items) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < items.size(); i++) {
            if (i > 0) b.append(',');
            b.append(quote(items.get(i)));
        }
        return b.append(']').toString();
    }

    /** Prints one JSON line per file: {"file":…,"errors":[…]}, then a total. */
    static void validate(Path dir) throws Exception {
        FhirValidator v = validator();
        List<Path> files;
        try (Stream<Path> s = Files.list(dir)) {
            files = s.filter(p -> p.toString().endsWith(".json")).sorted().toList();
        }
        // The first validation loads the definitions; time the rest apart.
        long start = System.nanoTime();
        long firstDone = 0;
        int n = 0;
        for (Path f : files) {
            List<String> errs = errors(v, Files.readString(f));
            System.out.println("{\"file\":" + quote(f.getFileName().toString()) + ",\"errors\":" + list(errs) + "}");
            if (n++ == 0) firstDone = System.nanoTime();
        }
        long end = System.nanoTime();
        System.out.println("{\"validated\":" + n + ",\"first_ms\":" + (firstDone - start) / 1_000_000
                + ",\"rest_ms\":" + (end - firstDone) / 1_000_000 + "}");
    }

    static byte[] pem(String text, String kind) {
        String b64 = text.replaceAll("-----(BEGIN|END) " + kind + "-----", "").replaceAll("\\s", "");
        return Base64.getDecoder().decode(b64);
    }

    /** A TLS context trusting CA and presenting CERT with KEY (PEM, PKCS#8). */
    static SSLContext tls(Path ca, Path cert, Path key) throws Exception {
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        trust.setCertificateEntry("ca", cf.generateCertificate(Files.newInputStream(ca)));
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);

        List<Certificate> chain = new ArrayList<>(cf.generateCertificates(new ByteArrayInputStream(Files.readAllBytes(cert))));
        byte[] der = pem(Files.readString(key), "PRIVATE KEY");
        PrivateKey pk;
        try {
            pk = KeyFactory.getInstance("EC").generatePrivate(new PKCS8EncodedKeySpec(der));
        } catch (Exception e) {
            pk = KeyFactory.getInstance("RSA").generatePrivate(new PKCS8EncodedKeySpec(der));
        }
        KeyStore own = KeyStore.getInstance("PKCS12");
        own.load(null, null);
        own.setKeyEntry("me", pk, new char[0], chain.toArray(new Certificate[0]));
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(own, new char[0]);

        SSLContext ssl = SSLContext.getInstance("TLS");
        ssl.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
        return ssl;
    }

    static int saved = 0;
    static final List<String> invalid = new ArrayList<>();

    /** Writes a response to OUTDIR and records its validation errors. */
    static void judge(FhirValidator v, Path out, String name, org.hl7.fhir.instance.model.api.IBaseResource r) throws Exception {
        String json = CTX.newJsonParser().encodeResourceToString(r);
        Files.writeString(out.resolve(String.format("%03d-%s.json", saved++, name)), json);
        for (String e : errors(v, json)) invalid.add(name + " " + e);
    }

    static void client(String[] a) throws Exception {
        String base = a[1];
        String patient = a[5], code = a[6];
        int count = Integer.parseInt(a[7]);
        Path out = Path.of(a[8]);
        Files.createDirectories(out);
        FhirValidator v = validator();

        ApacheRestfulClientFactory factory = new ApacheRestfulClientFactory(CTX);
        factory.setHttpClient(HttpClients.custom().setSSLContext(tls(Path.of(a[2]), Path.of(a[3]), Path.of(a[4]))).build());
        factory.setServerValidationMode(ServerValidationModeEnum.NEVER);
        CTX.setRestfulClientFactory(factory);
        IGenericClient client = CTX.newRestfulGenericClient(base);

        CapabilityStatement cs = client.capabilities().ofType(CapabilityStatement.class).execute();
        judge(v, out, "metadata", cs);

        Patient p = client.read().resource(Patient.class).withId(patient).execute();
        judge(v, out, "patient", p);

        Bundle page = client.search().forResource(Observation.class)
                .where(Observation.PATIENT.hasId(patient))
                .and(Observation.CODE.exactly().systemAndCode("http://loinc.org", code))
                .count(count)
                .returnBundle(Bundle.class).execute();
        int pages = 0, observations = 0;
        Integer total = null;
        List<String> ids = new ArrayList<>();
        while (true) {
            judge(v, out, "observations-" + pages, page);
            pages++;
            if (page.hasTotal()) total = page.getTotal();
            for (Bundle.BundleEntryComponent e : page.getEntry()) {
                if (e.getResource() instanceof Observation o) {
                    observations++;
                    ids.add(o.getIdElement().getIdPart());
                }
            }
            if (page.getLink(Bundle.LINK_NEXT) == null) break;
            page = client.loadPage().next(page).execute();
        }

        Bundle audit = client.search().forResource(AuditEvent.class)
                .where(AuditEvent.PATIENT.hasId(patient))
                .returnBundle(Bundle.class).execute();
        judge(v, out, "audit", audit);
        Bundle meds = client.search().forResource(MedicationRequest.class)
                .where(MedicationRequest.PATIENT.hasId(patient))
                .returnBundle(Bundle.class).execute();
        judge(v, out, "medication-requests", meds);
        Bundle orders = client.search().forResource(ServiceRequest.class)
                .where(ServiceRequest.PATIENT.hasId(patient))
                .returnBundle(Bundle.class).execute();
        judge(v, out, "service-requests", orders);

        System.out.println("{\"fhir_version\":" + quote(cs.getFhirVersion().toCode())
                + ",\"patient\":" + quote(p.getIdElement().getIdPart())
                + ",\"patient_name\":" + quote(p.hasName() ? p.getNameFirstRep().getNameAsSingleString() : "")
                + ",\"pages\":" + pages + ",\"observations\":" + observations
                + ",\"total\":" + total
                + ",\"observation_ids\":" + list(ids)
                + ",\"audit_events\":" + audit.getEntry().size()
                + ",\"medication_requests\":" + meds.getEntry().size()
                + ",\"service_requests\":" + orders.getEntry().size()
                + ",\"responses\":" + saved
                + ",\"invalid\":" + list(invalid) + "}");
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 2 && args[0].equals("validate")) {
            validate(Path.of(args[1]));
        } else if (args.length == 9 && args[0].equals("client")) {
            client(args);
        } else {
            System.err.println("usage: FhirCheck validate DIR | client BASE CA CERT KEY PATIENT CODE COUNT OUTDIR");
            System.exit(2);
        }
    }
}
