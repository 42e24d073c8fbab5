// Grants Kafka ACLs through the Admin API (Apache Kafka's own client, from the
// broker's jars): run by tests/src/kafka.rs as a single-file Java program,
//   java -cp '<libs>/*' Acls.java <admin client properties> <grant>...
// each grant "principal,RESOURCE_TYPE,name,PATTERN_TYPE,OPERATION", allowed
// from any host.
import java.io.FileInputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

public class Acls {
  public static void main(String[] args) throws Exception {
    Properties properties = new Properties();
    try (FileInputStream in = new FileInputStream(args[0])) {
      properties.load(in);
    }
    List<AclBinding> grants = new ArrayList<>();
    for (int i = 1; i < args.length; i++) {
      String[] f = args[i].split(",", 5);
      grants.add(new AclBinding(
          new ResourcePattern(ResourceType.valueOf(f[1]), f[2], PatternType.valueOf(f[3])),
          new AccessControlEntry(f[0], "*", AclOperation.valueOf(f[4]), AclPermissionType.ALLOW)));
    }
    try (Admin admin = Admin.create(properties)) {
      admin.createAcls(grants).all().get();
    }
  }
}
